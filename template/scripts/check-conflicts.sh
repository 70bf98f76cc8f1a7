#!/bin/sh
# Fail when a merge is unfinished: `copier update` exits 0 even when it leaves conflicts behind.
# Checks the three signs: unmerged paths in git's index, inline conflict markers in tracked or
# new files, and *.rej files (rejected hunks, `copier update --conflict rej`).
#   scripts/check-conflicts.sh      (exit 1 and a list when anything is left)
set -eu
cd "$(dirname "$0")/.."

found=0
unmerged=$(git diff --name-only --diff-filter=U)
if [ -n "$unmerged" ]; then
  echo "Unmerged files (resolve them, then git add):" >&2
  printf '%s\n' "$unmerged" | sed 's/^/  /' >&2
  found=1
fi
markers=$(git grep --untracked --line-number -E '^(<{7}|>{7})( |$)' -- . ':!*.rej' || true)
if [ -n "$markers" ]; then
  echo "Conflict markers (keep what you need from both sides, delete the markers):" >&2
  printf '%s\n' "$markers" | sed 's/^/  /' >&2
  found=1
fi
rejected=$(find . -name '*.rej' -not -path './.git/*' -not -path './.venv/*')
if [ -n "$rejected" ]; then
  echo "Rejected hunks (apply each by hand, then delete the .rej file):" >&2
  printf '%s\n' "$rejected" | sed 's/^/  /' >&2
  found=1
fi
if [ "$found" -eq 0 ]; then
  echo "No conflict left: no unmerged file, no conflict marker, no .rej file."
fi
exit "$found"
