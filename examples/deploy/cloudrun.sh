#!/usr/bin/env bash
# cloudrun.sh - deploy pexos-httpd to Cloud Run, second generation.
#
#   PROJECT=my-project examples/deploy/cloudrun.sh
#   DRY_RUN=1 PROJECT=my-project examples/deploy/cloudrun.sh   (print only)
#
# Builds the image from the repository's Dockerfile with Cloud Build, pushes
# it to Artifact Registry and deploys it. Settings, from the environment:
#
#   PROJECT      Google Cloud project (required)
#   REGION       region (europe-west1)
#   SERVICE      Cloud Run service name (pexos)
#   REPOSITORY   Artifact Registry repository, created if missing (pexos)
#   WORKERS      scripts run at once per instance: PEXOS_WORKERS and Cloud
#                Run's --concurrency (4)
#   POOL         warm sandboxes per instance: PEXOS_POOL (2 x WORKERS)
#   RUN_MEMORY   memory limit of one run, MiB: PEXOS_MEMORY (512)
#   LIMITS       cgroup (default) or rlimit, where the instance gives pexos no
#                writable cgroup; rlimit needs POOL=0 (the pool needs cgroups)
#   MAX_INSTANCES  upper bound of the autoscaler (10)
#
# The instance's memory is sized for the pool and the runs: about 70 MiB for
# the zygote, 9 MiB per waiting sandbox, WORKERS x RUN_MEMORY for the runs
# and 128 MiB for the daemon and headroom, rounded up to 256 MiB. Its CPUs:
# one per worker, as Cloud Run offers them (1, 2, 4, 6 or 8).
#
# Not run against Cloud Run: see examples/deploy/README.md.
set -euo pipefail

: "${PROJECT:?set PROJECT to the Google Cloud project}"
REGION=${REGION:-europe-west1}
SERVICE=${SERVICE:-pexos}
REPOSITORY=${REPOSITORY:-pexos}
WORKERS=${WORKERS:-4}
RUN_MEMORY=${RUN_MEMORY:-512}
LIMITS=${LIMITS:-cgroup}
MAX_INSTANCES=${MAX_INSTANCES:-10}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

die() { echo "cloudrun.sh: $*" >&2; exit 2; }
is_count() { [[ $1 =~ ^[0-9]+$ ]]; }
if ! is_count "$WORKERS" || [ "$WORKERS" -lt 1 ]; then
	die "WORKERS must be a number from 1 up"
fi
POOL=${POOL:-$((2 * WORKERS))}
is_count "$POOL" || die "POOL must be a number"
is_count "$MAX_INSTANCES" || die "MAX_INSTANCES must be a number"
if ! is_count "$RUN_MEMORY" || [ "$RUN_MEMORY" -lt 16 ]; then
	die "RUN_MEMORY must be MiB, 16 or more"
fi
case $LIMITS in
cgroup) ;;
rlimit) [ "$POOL" = 0 ] || die "LIMITS=rlimit needs POOL=0: the warm pool needs cgroups" ;;
*) die "LIMITS must be cgroup or rlimit" ;;
esac

# Memory: zygote + waiting sandboxes + the runs + daemon and headroom.
need_mib=$((70 + 9 * POOL + WORKERS * RUN_MEMORY + 128))
memory_mib=$(((need_mib + 255) / 256 * 256))
[ "$memory_mib" -ge 512 ] || memory_mib=512 # gen2's minimum
# CPU: one per worker, and as many as Cloud Run asks for that much memory
# (more than 4 GiB needs 2 CPUs, 8 GiB 4, 16 GiB 6, 24 GiB 8).
cpu=
for c in 1 2 4 6 8; do
	case $c in 1) max=4096 ;; 2) max=8192 ;; 4) max=16384 ;; 6) max=24576 ;; 8) max=32768 ;; esac
	if [ "$c" -ge "$WORKERS" ] && [ "$memory_mib" -le "$max" ]; then
		cpu=$c
		break
	fi
done
[ -n "$cpu" ] || die "WORKERS=$WORKERS with ${memory_mib} MiB is more than one Cloud Run instance offers (8 CPUs, 32 GiB): lower WORKERS or RUN_MEMORY"

IMAGE=$REGION-docker.pkg.dev/$PROJECT/$REPOSITORY/pexos:$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo latest)

run() { # prints each command; runs it unless DRY_RUN=1
	printf '+'
	printf ' %q' "$@"
	printf '\n'
	[ "${DRY_RUN:-0}" = 1 ] || "$@"
}

echo "cloudrun.sh: $WORKERS workers, pool $POOL, ${RUN_MEMORY} MiB a run:" \
	"${memory_mib} MiB and $cpu CPU per instance" >&2

if [ "${DRY_RUN:-0}" = 1 ] ||
	! gcloud artifacts repositories describe "$REPOSITORY" --project "$PROJECT" \
		--location "$REGION" >/dev/null 2>&1; then
	run gcloud artifacts repositories create "$REPOSITORY" --project "$PROJECT" \
		--location "$REGION" --repository-format docker
fi
run gcloud builds submit "$ROOT" --project "$PROJECT" --region "$REGION" --tag "$IMAGE"

# --execution-environment gen2: a full Linux kernel interface (namespaces,
#   mount, seccomp); the first generation's gVisor sandbox cannot run pexos.
# --command pexos-httpd: the image's entry point, named so the command says what runs.
# --concurrency = WORKERS: Cloud Run sends an instance no more requests than
#   it runs at once, so none waits in pexos's queue or gets 503 Busy; the
#   autoscaler starts instances instead.
# --no-cpu-throttling: the pool refills between requests.
# --cpu-boost: the zygote imports numpy and pandas at start-up.
# --timeout: a run's 30 s, plus set-up, with room.
# --no-allow-unauthenticated: callers need the run.invoker role.
run gcloud run deploy "$SERVICE" --project "$PROJECT" --region "$REGION" \
	--image "$IMAGE" \
	--execution-environment gen2 \
	--command pexos-httpd \
	--port 8080 \
	--concurrency "$WORKERS" \
	--cpu "$cpu" \
	--memory "${memory_mib}Mi" \
	--no-cpu-throttling \
	--cpu-boost \
	--timeout 60 \
	--max-instances "$MAX_INSTANCES" \
	--set-env-vars "PEXOS_WORKERS=$WORKERS,PEXOS_POOL=$POOL,PEXOS_MEMORY=$RUN_MEMORY,PEXOS_LIMITS=$LIMITS,PEXOS_TIMEOUT=30" \
	--no-allow-unauthenticated

echo "cloudrun.sh: check it with" >&2
echo "  curl -sS -H \"Authorization: Bearer \$(gcloud auth print-identity-token)\" \\" >&2
echo "    \"\$(gcloud run services describe $SERVICE --project $PROJECT --region $REGION --format 'value(status.url)')/health\"" >&2
