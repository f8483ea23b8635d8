#!/bin/sh
# (Behaves as gitolite's multi-hook-driver, the __DATA__ of repo-specific-hooks: it runs every
# hooks/NAME.* in order, pre/post-receive with the same input, post-update with the arguments;
# its exit status is the last hook's: a refusal by an earlier one is lost. Written for these
# tests; git runs it as hooks/NAME from the repository.)
mode=stdin
[ "$0" = hooks/post-update ] && mode=args
[ "$mode" = stdin ] && input=$(cat)
for each in "$0".*; do
  [ -x "$each" ] || continue
  if [ "$mode" = args ]; then "$each" "$@"; else echo "$input" | "$each"; fi
done
