#!/bin/sh
# Every document reference in the repository resolves to a file in it:
# no file cites the team's private notes (MATH.md, DESIGN.md, STYLE.md, shared/),
# every "docs/NAME.md" (or configs/, examples/, bench/ ... path) named in a
# tracked file exists, and every relative Markdown link points at a file.
# usage: doc_refs.sh SOURCE_DIR
set -u
src=${1:?usage: doc_refs.sh SOURCE_DIR}
cd "$src" || exit 2
fail=0
files=$(git ls-files 2>/dev/null || find . -type f ! -path './.git/*' ! -path './build*')
self=tests/doc_refs.sh
for f in $files; do
    [ "$f" = "$self" ] && continue
    case "$f" in tests/fuzz/corpus/*) continue ;; esac
    [ -f "$f" ] || continue
    # citations of notes that are not part of the repository
    if grep -nE 'MATH(\.md)? *§|MATH\.md|DESIGN\.md|STYLE\.md|\bDESIGN\b|shared/docs' "$f" >/tmp/doc_refs.$$ 2>/dev/null; then
        sed "s|^|$f:|; s|\$|   <- cites a document outside the repository|" /tmp/doc_refs.$$
        fail=1
    fi
    # docs/X.md-style paths named anywhere must exist
    for p in $(grep -oE '(^|[^A-Za-z0-9_./-])(docs|configs|examples|bench|scripts|python)/[A-Za-z0-9_./-]+\.(md|cfg|c|cpp|py|sh|csv|png)' "$f" 2>/dev/null |
               sed -E 's/^[^A-Za-z]//' | sort -u); do
        case "${p##*/}" in NAME.* | ?.*) continue ;; esac # placeholders: configs/NAME.cfg
        [ -e "$p" ] || { echo "$f: names $p, which does not exist"; fail=1; }
    done
done
rm -f /tmp/doc_refs.$$
# relative Markdown links [text](path) resolve from the linking file's folder
for f in $(printf '%s\n' $files | grep '\.md$'); do
    dir=$(dirname "$f")
    for l in $(grep -oE '\]\([^)#[:space:]]+' "$f" | sed 's/^](//' | grep -vE '^(https?|mailto):' | sort -u); do
        [ -e "$dir/$l" ] || { echo "$f: link ($l) does not resolve"; fail=1; }
    done
done
[ $fail -eq 0 ] && echo "doc references: all resolve"
exit $fail
