#!/usr/bin/env bash
# Mutation score of the core: gremlins mutates events.go, core.go and log.go
# one change at a time and runs the root package's tests (the CI-sized
# simulator, the hand-stepped core tests, the scenario tests and the bug
# catalogue) against each mutant. A mutant that no test fails on LIVED: either
# it changes nothing observable, or a check is missing.
#
#   scripts/mutation.sh                # the whole run, one worker (~1-2 h)
#   MUTATION_OUT=m.json scripts/mutation.sh   # also keep gremlins' JSON report
#   MUTATION_DRY=1 scripts/mutation.sh # list the mutants only
#
# Settings (environment): MUTATION_FILES, the files to mutate ("core.go
# events.go log.go"); MUTATION_WORKERS (1); MUTATION_TIMEOUT_COEFFICIENT (4:
# a mutant times out after 4x the coverage run); MUTATION_SKIP, a -skip
# pattern for tests that fail without any mutant (see below); GREMLINS, the
# binary (gremlins on PATH, else ~/go/bin/gremlins).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
files=${MUTATION_FILES:-core.go events.go log.go}
workers=${MUTATION_WORKERS:-1}
coefficient=${MUTATION_TIMEOUT_COEFFICIENT:-4}
# A test that fails without any mutant would count every mutant killed:
# MUTATION_SKIP names such tests (as go test -skip takes them). By default
# it is the one that needs the other packages' test files, which the copy
# below leaves out.
skip=${MUTATION_SKIP-TestDocCodeIsCompiled}
gremlins=${GREMLINS:-$(command -v gremlins || echo "$HOME/go/bin/gremlins")}

# gremlins gathers coverage with `go test ./...` over the whole module, where
# other packages' tests are slow or fail under coverage, and only the root
# package's tests are meant to judge the core. So it runs on a copy of the
# module (as it is on disk, uncommitted changes included) whose other
# packages keep their code but lose their tests.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/raftlite-mutation.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
tar -C "$root" --exclude=.git -cf - . | tar -C "$tmp" -xf -
find "$tmp" -mindepth 2 -name '*_test.go' -delete

# Mutate only the named files: exclude every other file of the root package
# and everything in a subdirectory.
args=(--exclude-files '/')
for f in "$tmp"/*.go; do
	name=$(basename "$f")
	case " $files " in
	*" $name "*) ;;
	*) args+=(--exclude-files "^${name//./\\.}\$") ;;
	esac
done

if [ -n "$skip" ]; then
	echo "mutation.sh: skipping tests matching $skip" >&2
	export GOFLAGS="${GOFLAGS:+$GOFLAGS }-skip=$skip"
fi
if [ -n "${MUTATION_DRY:-}" ]; then
	args+=(--dry-run)
fi
if [ -n "${MUTATION_OUT:-}" ]; then
	out=$(cd "$(dirname "$MUTATION_OUT")" && pwd)/$(basename "$MUTATION_OUT")
	args+=(--output "$out")
fi

cd "$tmp"
"$gremlins" unleash --tags raftlite_bugs --workers "$workers" \
	--timeout-coefficient "$coefficient" "${args[@]}" .
