#!/bin/sh
# Pull the template's improvements with `copier update`, then fail on any conflict it left
# (copier exits 0 even then). What CI's template-update job runs, and what you run by hand:
#   scripts/update-from-template.sh [--trust] [copier update options, e.g. --vcs-ref 1.4.0]
# --trust only when the update crosses a template migration (the release's upgrade notes say
# so): without it, such an update stops before touching anything and this script says so.
# Exit codes: 0 updated (or nothing to do), 1 conflicts to resolve, 2 dirty work tree,
# 3 the update crosses a migration and needs --trust, other: copier's own failure.
set -eu
cd "$(dirname "$0")/.."
COPIER=${COPIER:-"uvx --from copier>=9.17.2,<10 copier"}

if [ -n "$(git status --porcelain)" ]; then
  echo "The work tree has uncommitted changes: commit or stash them first, so that the update's" >&2
  echo "changes are the only ones to review (git status lists them)." >&2
  exit 2
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
# shellcheck disable=SC2086  # COPIER is a command line
$COPIER update --defaults "$@" 2>"$log" || status=$?
cat "$log" >&2
if [ "$status" -ne 0 ]; then
  if grep -q "unsafe feature" "$log"; then
    echo "" >&2
    echo "This update crosses a template migration (a script in the template's hooks/ that" >&2
    echo "renames answers or moves files so that your edits survive). Read the template's" >&2
    echo "CHANGELOG upgrade notes and the script, then run again with --trust:" >&2
    echo "  scripts/update-from-template.sh --trust $*" >&2
    exit 3
  fi
  exit "$status"
fi
exec scripts/check-conflicts.sh
