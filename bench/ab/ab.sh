#!/bin/sh
# ab.sh BASE [OUT]: builds OUT (default /tmp/rws-ab/bench.bin), this bench
# with the library of this checkout as the usual clients and the library at
# git revision BASE as the extra clients "base" and "base+pooled" (echo,
# push, sparse) and "base" (idle), so that before and after run in the same
# rounds of one process. Then, for example:
#
#	cd /tmp/rws-ab/bench && GOMAXPROCS=2 ../bench.bin -phases echo,push,sparse,idle \
#		-idle-n 1000 -idle-cpu 0 -sparse-clients coder,resilientws,base -o ab.md
set -eu
base=${1:?usage: ab.sh BASE [OUT]}
here=$(cd "$(dirname "$0")/.." && pwd) # bench/
lib=$(cd "$here/.." && pwd)
work=/tmp/rws-ab
out=${2:-$work/bench.bin}
rm -rf "$work/base" "$work/bench"
mkdir -p "$work/base"
git -C "$lib" archive "$base" | tar -x -C "$work/base"
sed -i 's#^module github.com/resilientws/resilientws$#module github.com/resilientws/rwsbase#' "$work/base/go.mod"
cp -r "$here" "$work/bench"
cp "$here/ab/base_variants.go.txt" "$work/bench/base_variants.go"
cd "$work/bench"
go mod edit -replace "github.com/resilientws/resilientws=$lib" \
	-replace "github.com/resilientws/resilientws/resilientwsotel=$lib/resilientwsotel" \
	-replace "github.com/resilientws/rwsbase=$work/base" \
	-require github.com/resilientws/rwsbase@v0.0.0-00010101000000-000000000000
GOFLAGS=-mod=mod go build -o "$out" .
echo "$out: library $(git -C "$lib" describe --always --dirty --exclude '*') against base $base"
