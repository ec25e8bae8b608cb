#!/usr/bin/env bash
# Fails when git tracks what belongs outside the repository: a Python virtual
# environment (or other installed dependencies and build output), or any
# file over 5 MB. .ci/run calls it before anything is built.
set -euo pipefail
cd "$(dirname "$0")/.."

limit=$((5 * 1024 * 1024))
status=0

# Any path with a virtualenv marker, an installed-packages directory or build
# output in it. .gitignore keeps these out; this catches a `git add -f`.
environments=$(git ls-files | grep -E '(^|/)(\.venv[^/]*|venv|site-packages|node_modules|target|__pycache__)/|(^|/)pyvenv\.cfg$' || true)
if [ -n "$environments" ]; then
  echo "error: git tracks a virtual environment, installed packages or build output:" >&2
  printf '%s\n' "$environments" | sed -n 's/^/  /; 1,20p' >&2
  n=$(printf '%s\n' "$environments" | wc -l)
  if [ "$n" -gt 20 ]; then echo "  ... and $((n - 20)) more" >&2; fi
  echo "untrack it with: git rm -r --cached <dir>   (.gitignore already ignores .venv*/, target/, node_modules/)" >&2
  status=1
fi

# Sizes of the staged blobs, so the check sees what a commit would hold.
large=$(git ls-files --stage | awk '{ sub(/^[0-9]+ /, ""); print }' \
  | awk '{ oid = $1; sub(/^[^ ]+ [0-9]+\t/, ""); print oid " " $0 }' \
  | git cat-file --batch-check='%(objectsize) %(rest)' \
  | awk -v limit="$limit" '$1 > limit')
if [ -n "$large" ]; then
  echo "error: tracked files over 5 MB (generate them, or keep them out of git):" >&2
  echo "$large" | awk '{ size = $1; $1 = ""; printf "  %.1f MB%s\n", size / 1048576, $0 }' >&2
  status=1
fi

exit $status
