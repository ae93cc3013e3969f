#!/usr/bin/env bash
# The GPU check, ready before a GPU is: the whole test suite on the Vulkan
# device, `vkflow bench ops`, `bench graph`, `bench train` for every model
# family, and the PyTorch peer on CUDA where torch has CUDA; one markdown
# section for docs/BENCHMARKS.md at the end.
#
#   tools/gpu-check.sh build         here: Release build, then a bundle in .gpu/ that runs on a
#                                    machine with nothing installed (binaries, every library ldd
#                                    lists, the Vulkan loader, the validation layer)
#   tools/gpu-check.sh run [OUT]     there (or here): runs from .gpu/, writes OUT/gpu-check.md
#   tools/gpu-check.sh [OUT]         both, here (lavapipe on a machine without a GPU)
#
# On the lent machine (/work/.library/device/README.md): run `build` here, then one device call
# from the repository root, carrying .gpu and data/default:
#   tools/gpu-check.sh run "$OUT"
# The test binaries have this checkout's absolute path compiled in (models, fixtures); `run`
# links that path to the copy it runs in when it does not exist there.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
mode=${1:-all}
case $mode in build|run|all) shift || true ;; *) mode=all ;; esac
out=${1:-$root/gpu-check-out}
bundle=$root/.gpu

build() {
    grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo /.gpu/ >>.git/info/exclude
    cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DVKFLOW_WERROR=ON >/dev/null
    cmake --build build-gpu -j"$(nproc)"
    rm -rf "$bundle" && mkdir -p "$bundle/bin" "$bundle/lib" "$bundle/layers"
    cp build-gpu/vkflow "$bundle/bin/"
    cp build-gpu/tests/test_* "$bundle/bin/"
    strip --strip-unneeded "$bundle"/bin/* 2>/dev/null || true
    # every shared library the binaries need except the C library itself (the machine's must
    # be at least this one's glibc: Debian 12, 2.36), the Vulkan loader included
    for b in "$bundle"/bin/*; do ldd "$b"; done | awk '$3 ~ /^\// { print $3 }' | sort -u |
        grep -Ev '/(libc|libm|libpthread|libdl|librt|ld-linux-x86-64)\.so' | xargs -r cp -L -t "$bundle/lib"
    # the Khronos validation layer (the tests fail on any validation message)
    local layer json
    layer=$(ls /usr/lib/x86_64-linux-gnu/libVkLayer_khronos_validation.so 2>/dev/null || true)
    json=/usr/share/vulkan/explicit_layer.d/VkLayer_khronos_validation.json
    if [[ -n $layer && -f $json ]]; then
        cp -L "$layer" "$bundle/layers/"
        sed 's#"library_path": *"[^"]*"#"library_path": "./libVkLayer_khronos_validation.so"#' "$json" \
            >"$bundle/layers/VkLayer_khronos_validation.json"
    fi
    echo "$root" >"$bundle/source_dir"
    git rev-parse --short HEAD >"$bundle/commit" 2>/dev/null || echo unknown >"$bundle/commit"
    # the tests share most of their bytes (the static libvkflow): one archive with a long-range
    # window (zstd --long) travels in ~40 MiB instead of ~250; zstd itself travels beside it,
    # with its libraries, in case the machine has none
    mkdir -p "$bundle/zstd"
    cp -L "$(command -v zstd)" "$bundle/zstd/"
    ldd "$(command -v zstd)" | awk '$3 ~ /^\// { print $3 }' | grep -Ev '/(libc|ld-linux-x86-64)\.so' |
        xargs -r cp -L -t "$bundle/zstd"
    tar -C "$bundle" -cf - bin lib layers | zstd -q --long=28 -12 -T0 -o "$bundle/bundle.tar.zst" -f
    rm -rf "$bundle/bin" "$bundle/lib" "$bundle/layers"
    du -sh "$bundle" | awk '{ print "bundle: " $1 " in .gpu/ (carry .gpu and data/default)" }'
}

run() {
    [[ -f $bundle/bundle.tar.zst ]] || { echo "gpu-check: no bundle in $bundle (run: tools/gpu-check.sh build)" >&2; exit 2; }
    [[ -d $bundle/bin ]] || LD_LIBRARY_PATH=$bundle/zstd "$bundle/zstd/zstd" -q -d --long=28 -c "$bundle/bundle.tar.zst" |
        tar -C "$bundle" -xf -
    mkdir -p "$out"
    local src
    src=$(cat "$bundle/source_dir")
    if [[ ! -e $src ]]; then mkdir -p "$(dirname "$src")" && ln -s "$root" "$src"; fi
    export LD_LIBRARY_PATH=$bundle/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    export VK_LAYER_PATH=$bundle/layers
    local nv=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
    if [[ -z ${VK_DRIVER_FILES:-} && -f $nv ]]; then export VK_DRIVER_FILES=$nv; fi
    local vk=$bundle/bin/vkflow md=$out/gpu-check.md log=$out/gpu-check.log
    : >"$log"
    "$vk" devices | tee -a "$log"
    local dev type
    dev=$("$vk" devices | sed -n 's/^vkflow would use \[[0-9]*\] \(.*\) (VKFLOW_DEVICE.*/\1/p')
    # the chosen device's "type" line follows its "*" line
    if "$vk" devices | grep -A1 '^\*' | grep -q 'type cpu'; then type=software; else type=gpu; fi
    {
        echo "### GPU check: $dev"
        echo
        echo "commit $(cat "$bundle/commit"), $(date -u +%Y-%m-%dT%H:%MZ), tools/gpu-check.sh; $(nproc) CPU cores;"
        echo "device type: $type (the software device gets the small sizes)."
        echo
        echo "| suite | result | seconds |"
        echo "|---|---|---|"
    } >"$md"
    local fails=0 t0 t1 r
    export VKFLOW_VALIDATE=1 OPENBLAS_NUM_THREADS=1 VKFLOW_SKIP_LOG=$out/skipped.log
    rm -f "$VKFLOW_SKIP_LOG"
    for t in "$bundle"/bin/test_*; do
        t0=$(date +%s.%N)
        if (cd "$src" && timeout 900 "$t" --jobs 2 >>"$log" 2>&1); then r=passed; else r=FAILED; fails=$((fails + 1)); fi
        t1=$(date +%s.%N)
        printf '| %s | %s | %.1f |\n' "$(basename "$t")" "$r" "$(echo "$t1 - $t0" | bc)" | tee -a "$md"
    done
    [[ -f $VKFLOW_SKIP_LOG ]] && echo "skipped test cases: $(wc -l <"$VKFLOW_SKIP_LOG") (no shared traces there)" >>"$md"
    unset VKFLOW_VALIDATE
    local iters=20 small=""
    [[ $type == software ]] && iters=2 && small=--quick
    {
        echo
        echo "**bench ops** (\`vkflow bench ops --backend vk ${small:---full}\`):"
        echo
        echo '```'
        (cd "$src" && timeout 600 "$vk" bench ops --backend vk ${small:---full}) 2>&1 || echo "(bench ops failed)"
        echo '```'
        echo
        echo "**bench graph** (\`vkflow bench graph\`):"
        echo
        echo '```'
        (cd "$src" && timeout 600 "$vk" bench graph) 2>&1 || echo "(bench graph failed)"
        echo '```'
        echo
        echo "**bench train**, every model family (DoppelGANger today; \`--iters $iters\`):"
        echo
        echo '```'
        for m in models/doppelganger.cfg models/doppelganger_small.cfg; do
            [[ $type == software && $m == models/doppelganger.cfg ]] && continue # minutes per iteration on lavapipe
            (cd "$src" && OPENBLAS_NUM_THREADS=$(nproc) timeout 600 "$vk" bench train "$m" --backend all --iters "$iters") 2>&1 ||
                echo "(bench train $m failed)"
        done
        echo '```'
        echo
        if python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
            echo "**PyTorch peer on CUDA** (tools/bench/doppelganger_torch.py --device cuda --iters $iters):"
            echo
            echo '```'
            (cd "$src" && timeout 600 python3 tools/bench/doppelganger_torch.py --device cuda --iters "$iters") 2>&1 || echo "(torch failed)"
            echo '```'
        else
            echo "PyTorch with CUDA: not available on this machine."
        fi
    } >>"$md" 2>&1
    echo
    cat "$md"
    echo
    echo "gpu-check: $fails suite(s) failed; table in $md, test output in $log"
    return $((fails > 0))
}

case $mode in
    build) build ;;
    run) run ;;
    all) build && run ;;
esac
