"""PyTorch on the GPU, the peer of cuda_gpu_bench (bench/cuda_bench.cpp) on a GPU machine: the same
workloads (bench/peers/torch_models.py's encoder layer and seq2seq train step, moved to the GPU) and
scaled_dot_product_attention at B=8, h=8, T=1024, d=64 in f32 and bf16. Median milliseconds over
REPS timed runs after two warm-ups, synchronized; copies to and from the host included where Weft's
run includes them (the encoder layer and attention take host tensors and return host tensors, as
Weft's `run` does), and also without them, for the kernels alone.

    python3 bench/torch_cuda.py [REPS]
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import torch_models  # noqa: E402


def median_ms(fn, reps):
    for _ in range(2):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    return times[len(times) // 2]


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    if not torch.cuda.is_available():
        raise SystemExit("torch_cuda.py: PyTorch sees no GPU")
    print(f"device {torch.cuda.get_device_name()} (PyTorch {torch.__version__})")
    torch.set_default_device("cuda")
    for compiled in (False, True):
        tag = "torch.compile" if compiled else "eager"
        run, flops = torch_models.setup("encoder_layer", None, compiled)
        x_host = (torch.rand(8, 128, 512, device="cpu") * 2 - 1).pin_memory()
        layer_run = run

        def with_copies():
            with torch.no_grad():
                return layer_run(x_host.to("cuda", non_blocking=True)).cpu()

        with torch.no_grad():
            ms = median_ms(run, reps)
        print(f"encoder_layer forward, {tag}: {ms:.3f} ms kernels only, {median_ms(with_copies, reps):.3f} ms "
              f"with the copies ({flops / ms / 1e6:.0f} GFLOP/s)")
        step, flops = torch_models.setup("transformer_train", None, compiled)
        ms = median_ms(step, reps)
        tokens = torch_models.BATCH * torch_models.TARGET
        print(f"transformer_train step, {tag}: {ms:.3f} ms ({tokens / ms * 1e3:.0f} tokens/s)")
    for dtype in (torch.float32, torch.bfloat16):
        q, k, v = (torch.rand(8, 8, 1024, 64, dtype=dtype) for _ in range(3))
        flops = 4.0 * 8 * 8 * 1024 * 1024 * 64
        with torch.no_grad():
            ms = median_ms(lambda: F.scaled_dot_product_attention(q, k, v), reps)
        print(f"scaled_dot_product_attention B8 h8 T1024 d64 {str(dtype)[6:]}: {ms:.3f} ms ({flops / ms / 1e6:.0f} GFLOP/s)")


if __name__ == "__main__":
    main()
