# Reader runs on the lent GPU, four trainers sharing one pool of render processes.
# Call: bash .gpu/go.sh (carry .gpu). Env: DEV (cuda), M (minutes of training), W (render
# processes), B (batch), HARD (seconds after which a trainer is stopped at its last checkpoint).
DEV=${DEV:-cuda}; M=${M:-8}; W=${W:-12}; B=${B:-256}; HARD=${HARD:-530}
# A warm machine keeps /tmp between calls: fresh folders, or a second call resumes the first's runs.
export RUNS=${RUNS:-/tmp/runs.$$} SHARDS=${SHARDS:-/tmp/shards.$$}
if [ "$DEV" = cuda ]; then cp -r .gpu/fonts/. /usr/share/fonts/; nvidia-smi -L; fi
mkdir -p ../shared/data && ln -sfn "$PWD/.gpu/scenes" ../shared/data/scenes
export PYTHONPATH="$PWD/.gpu/site:$PWD" PYTHONUNBUFFERED=1
python3 -c "import torch; from stream_lpr.synth import fonts; print(torch.__version__, torch.cuda.is_available(), 'fonts missing:', fonts.missing_packages())"
# Session 19's shares: without them the reader guesses hidden digits again (docs/measurements.md).
# SIGTERM stops a run at its last checkpoint (every 250 steps) and skips the ONNX exports.
run() { name=$1; shift; timeout -k 25 $HARD python3 -m stream_lpr.train reader --init weights/reader.pt \
  --run $RUNS/$name --weights $RUNS/$name/w --data $SHARDS --steps 10000000 --batch $B --device $DEV \
  --max-width 200 --occlude 0.15 --mask 0.1 --any-kana 0.25 --cut 0.12 "$@" >$OUT/$name.log 2>/tmp/$name.err; }
M2=$(python3 -c "print(round($M - 0.4, 2))")  # the others start 25 s later
# Session 24 ran 5e-4, 2e-4, --width 36 and --depth 2 (shipped) from session 19's reader. The shipped one
# is deeper now (a reader cannot be widened after deepening): four runs of its shape, to average.
run a --lr 3e-4 --seed 261 --workers $W --block-lr-scale 10 --minutes $M &
sleep 25
run b --lr 2e-4 --seed 262 --workers 0 --block-lr-scale 10 --minutes $M2 &
run c --lr 3e-4 --seed 263 --workers 0 --minutes $M2 &
run d --lr 5e-4 --seed 264 --workers 0 --minutes $M2 &
sleep 60; ls $SHARDS | wc -l; grep -h fresh $OUT/*.log | tail -4  # shards must keep coming
wait
# Half precision for the trip back: a float reader of depth 2 is 16.76 MB, a hair under the 16 MiB a file may be.
for n in a b c d; do
  echo "== $n"; tail -c 400 /tmp/$n.err | tr '\r' '\n' | tail -2; tail -2 $OUT/$n.log
  python3 -c "import sys, torch; s = torch.load(sys.argv[1], map_location='cpu', weights_only=True)
s['model'] = {k: v.half() if v.is_floating_point() else v for k, v in s['model'].items()}; torch.save(s, sys.argv[2])" \
    $RUNS/$n/w/reader.pt $OUT/$n.pt
done
