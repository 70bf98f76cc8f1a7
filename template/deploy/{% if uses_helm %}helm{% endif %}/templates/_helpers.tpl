{{/* The name of every object: the chart's name (the project slug), or nameOverride. */}}
{{- define "app.name" -}}
{{- .Values.nameOverride | default .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels every object carries; add a component label next to them. */}}
{{- define "app.labels" -}}
app.kubernetes.io/name: {{ include "app.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.image.tag | toString | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{/* The API's pod selector. */}}
{{- define "app.selectorLabels" -}}
app.kubernetes.io/name: {{ include "app.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: api
{{- end -}}

{{/* The queue worker's pod selector (a chart with a worker). */}}
{{- define "app.workerSelectorLabels" -}}
app.kubernetes.io/name: {{ include "app.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: worker
{{- end -}}

{{/* The scheduler's pod selector (a chart with a worker). */}}
{{- define "app.schedulerSelectorLabels" -}}
app.kubernetes.io/name: {{ include "app.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: scheduler
{{- end -}}

{{/* The probes of the worker and the scheduler: both touch the heartbeat file that
`python -m <package>.worker.probe` checks (it fails when the file is older than three beats). */}}
{{- define "app.heartbeatProbes" -}}
startupProbe:
  exec:
    command: ["python", "-m", {{ printf "%s.worker.probe" .Values.packageName | quote }}]
  periodSeconds: 5
  timeoutSeconds: 5
  failureThreshold: 12  # up to 60 s to connect to the broker and start beating
livenessProbe:
  exec:
    command: ["python", "-m", {{ printf "%s.worker.probe" .Values.packageName | quote }}]
  periodSeconds: 10
  timeoutSeconds: 5
  failureThreshold: 3
{{- end -}}

{{/* The most API pods that can run at once: the connection budget's MAX_REPLICAS. */}}
{{- define "app.maxReplicas" -}}
{{- if .Values.autoscaling.enabled -}}
{{- .Values.autoscaling.maxReplicas -}}
{{- else -}}
{{- .Values.replicaCount -}}
{{- end -}}
{{- end -}}

{{/* The image reference. */}}
{{- define "app.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | toString) -}}
{{- end -}}

{{/* Secrets as environment variables, one secretKeyRef per key of .Values.secret.keys. */}}
{{- define "app.secretEnv" -}}
{{- range .Values.secret.keys }}
- name: {{ . }}
  valueFrom:
    secretKeyRef:
      name: {{ $.Values.secret.name }}
      key: {{ . }}
{{- end }}
{{- end -}}

{{/* The restricted Pod Security Standard, for pods and their containers. */}}
{{- define "app.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "app.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop:
    - ALL
{{- end -}}
