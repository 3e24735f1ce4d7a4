//go:build !unix

package devices

import "os/exec"

// killProcessGroupOnCancel leaves cmd as it is: without process groups,
// cancelling kills nvidia-smi alone and WaitDelay bounds the rest.
func killProcessGroupOnCancel(*exec.Cmd) {}
