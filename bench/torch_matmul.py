"""PyTorch's matmul (OpenBLAS in Debian's python3-torch 1.13) on bench_matmul's shapes, the peer
of Weft's generated SGEMM: C = A·op(B) written into a preallocated C (`out=`), as Weft writes its
own output buffer.

    torch_matmul.py SAMPLES M,K,N,T,BATCH[,TA] [M,K,N,T,BATCH[,TA] ...]

T is 1 when B is stored N×K (a Linear layer's weight, multiplied as B.t()); TA is 1 when A is
stored K×M (the activations of a weight gradient, multiplied as A.t()); BATCH > 1 gives every
batch element its own A and B (torch.bmm through matmul). Prints one line per shape,
`<M,K,N,T,BATCH> <wall seconds per call> <CPU seconds per call>` per sample (SAMPLES of them, each
a batch of calls lasting at least 20 ms; CPU time of the whole process, every thread), then `torch <version>`; or `unavailable <why>` when torch cannot be imported.
Threads: OMP_NUM_THREADS (bench_matmul sets 2), with torch.set_num_threads to match.
"""
import os
import sys
import time


def main():
    samples = int(sys.argv[1])
    try:
        import torch
    except Exception as e:  # noqa: BLE001 - any import failure means no peer
        print(f"unavailable {type(e).__name__}: {e}")
        return
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    torch.manual_seed(1)
    for spec in sys.argv[2:]:
        fields = [int(x) for x in spec.split(",")]
        m, k, n, t, batch = fields[:5]
        ta = len(fields) > 5 and fields[5] == 1
        lead = (batch,) if batch > 1 else ()
        a = torch.empty(*lead, k, m).uniform_(-1, 1).transpose(-1, -2) if ta else torch.empty(*lead, m, k).uniform_(-1, 1)
        b = torch.empty(*lead, n, k).uniform_(-1, 1).transpose(-1, -2) if t else torch.empty(*lead, k, n).uniform_(-1, 1)
        c = torch.empty(*lead, m, n)

        def op():
            torch.matmul(a, b, out=c)

        op()
        start = time.perf_counter()
        op()
        once = time.perf_counter() - start
        calls = max(1, int(0.02 / max(once, 1e-9)) + 1)
        for _ in range(samples):
            start, cpu = time.perf_counter(), time.process_time()
            for _ in range(calls):
                op()
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
            print(f"{spec} {wall / calls:.9g} {cpu / calls:.9g}")
    print(f"torch {torch.__version__}")


if __name__ == "__main__":
    main()
