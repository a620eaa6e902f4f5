#!/bin/sh
# links_no_gpu_library.sh BINARY: the simulator must start on any machine, so BINARY may not
# link a CUDA, cuBLAS, NCCL, MPI or NVIDIA driver library (the hardware executor is opened at run
# time instead, sim/app/hardware_library.cpp). Prints ldd's list; exit 1 on a match.
deps=$(ldd "$1" 2>&1) || { printf '%s\n' "$deps"; echo "ldd failed on $1"; exit 1; }
printf '%s\n' "$deps"
bad=$(printf '%s\n' "$deps" | grep -E 'lib(cuda|cudart|cublas|cublasLt|nccl|mpi|mpi_cxx|nvidia|nvrtc|open-pal|open-rte)[.-]')
if [ -n "$bad" ]; then
  echo "$1 links GPU/MPI libraries:"
  printf '%s\n' "$bad"
  exit 1
fi
echo "no CUDA/NCCL/MPI library linked"
