// Package devices finds what a node can run workers on (README: Workers): the CPU,
// always, and NVIDIA GPUs as nvidia-smi lists them. Each device becomes a
// capability string, "cpu" or "cuda:<index>", that spawn requests and the
// queen's worker filters name.
//
// Detection never fails: a missing nvidia-smi means no GPUs, and anything
// odd (nvidia-smi failing or hanging, a malformed line of its output,
// unreadable memory totals) is left out and named in Devices.Warnings.
//
// A Watcher detects again on an interval (DefaultRedetect), so a GPU that
// appears or vanishes after the agent started is seen; Changed says when a
// new detection is worth telling the queen (not for small moves of free
// memory).
//
// Tests put a fake nvidia-smi on PATH; WriteFakeNvidiaSMI writes one.
package devices
