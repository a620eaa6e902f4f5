# Sourced by the scripts of bench/gpu: names shared by every measurement on a GPU machine.

# The first GPU's name as a directory name: "NVIDIA H100 80GB HBM3" -> "h100-80gb-hbm3".
# Measurements go to traces/measured/<slug>/. Empty when nvidia-smi sees no GPU.
gpu_slug() {
  nvidia-smi --query-gpu=name --format=csv,noheader -i 0 2>/dev/null | head -1 |
    tr '[:upper:]' '[:lower:]' | sed -e 's/nvidia //' -e 's/[^a-z0-9]\+/-/g' -e 's/-$//'
}
