# Reader runs on the lent GPU, four trainers sharing one pool of render processes.
# Call: bash .gpu/go.sh (carry .gpu). Env: DEV (cuda), M (minutes of training), W (render
# processes), B (batch), HARD (seconds after which a trainer is stopped and saved).
DEV=${DEV:-cuda}; M=${M:-7.5}; W=${W:-12}; B=${B:-256}; HARD=${HARD:-500}
# A warm machine keeps /tmp between calls: fresh folders, or a second call resumes the first's runs.
export RUNS=${RUNS:-/tmp/runs.$$} SHARDS=${SHARDS:-/tmp/shards.$$}
if [ "$DEV" = cuda ]; then cp -r .gpu/fonts/. /usr/share/fonts/; nvidia-smi -L; fi
mkdir -p ../shared/data && ln -sfn "$PWD/.gpu/scenes" ../shared/data/scenes
export PYTHONPATH="$PWD/.gpu/site:$PWD" PYTHONUNBUFFERED=1
python3 -c "import torch; from stream_lpr.synth import fonts; print(torch.__version__, torch.cuda.is_available(), 'fonts missing:', fonts.missing_packages())"
T="timeout -s INT -k 25 $HARD python3 .gpu/reader_run.py"
M2=$(python3 -c "print(round($M - 0.4, 2))")  # the others start 25 s later
$T a --lr 1e-3 --seed 231 --workers $W --minutes $M --batch $B --device $DEV >$OUT/a.log 2>/tmp/a.err &
sleep 25
$T b --lr 5e-4 --seed 232 --minutes $M2 --batch $B --device $DEV >$OUT/b.log 2>/tmp/b.err &
$T c --lr 1e-3 --seed 233 --width 36 --minutes $M2 --batch $B --device $DEV >$OUT/c.log 2>/tmp/c.err &
$T d --lr 3e-4 --seed 234 --depth 2 --block-lr-scale 10 --minutes $M2 --batch $B --device $DEV >$OUT/d.log 2>/tmp/d.err &
sleep 60; ls $SHARDS | wc -l; grep -h fresh $OUT/*.log | tail -4  # shards must keep coming
wait
for n in a b c d; do echo "== $n"; tail -c 400 /tmp/$n.err | tr '\r' '\n' | tail -2; tail -2 $OUT/$n.log; done
