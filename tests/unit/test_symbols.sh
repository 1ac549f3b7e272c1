#!/bin/sh
# The exported symbols of libpexos.so are exactly the global ones of the map.
set -eu
lib=$1 map=$2
exported=$(nm -D --defined-only "$lib" | awk '$2 == "T" || $2 == "D" || $2 == "B" {sub(/@.*/, "", $3); print $3}' | sort)
listed=$(sed -n 's/^[[:space:]]*\(pexos_[a-z_]*\);$/\1/p' "$map" | sort)
if [ "$exported" = "$listed" ]; then
  echo "libpexos exports exactly the symbols of pexos.map"
  exit 0
fi
echo "exported:"; echo "$exported"; echo "listed in pexos.map:"; echo "$listed"
exit 1
