package api

import (
	"fmt"
	"strconv"
)

// Limits of a devices document in a heartbeat.
const (
	// MaxGPUs is the most GPUs a node may report.
	MaxGPUs = 64
	// MaxGPUNameLen is the longest GPU name.
	MaxGPUNameLen = 256
	// MaxDeviceWarnings is the most warnings a devices document may carry.
	MaxDeviceWarnings = 16
)

// ValidateDevices checks a devices document an agent sent: at most MaxGPUs
// GPUs with names of at most MaxGPUNameLen bytes, no negative counts or
// sizes, and at most MaxDeviceWarnings warnings.
func ValidateDevices(d Devices) error {
	if d.CPU.Cores < 0 || d.CPU.RAMBytes < 0 || d.CPU.RAMFreeBytes < 0 {
		return fieldErr("devices.cpu", fmt.Sprintf("%+v", d.CPU), ruleNotNeg)
	}
	if len(d.GPUs) > MaxGPUs {
		return fieldErr("devices.gpus", strconv.Itoa(len(d.GPUs)), "must be at most "+strconv.Itoa(MaxGPUs)+" GPUs")
	}
	for i, g := range d.GPUs {
		field := "devices.gpus[" + strconv.Itoa(i) + "]"
		if g.Index < 0 || g.MemoryTotalByte < 0 || g.MemoryFreeByte < 0 {
			return fieldErr(field, fmt.Sprintf("%+v", g), ruleNotNeg)
		}
		if len(g.Name) > MaxGPUNameLen {
			return fieldErr(field+".name", g.Name, tooLong(MaxGPUNameLen))
		}
	}
	if len(d.Warnings) > MaxDeviceWarnings || len(d.Capabilities) > MaxGPUs+1 {
		return fieldErr("devices", strconv.Itoa(len(d.Warnings)), "must have at most "+strconv.Itoa(MaxDeviceWarnings)+" warnings and one capability per device")
	}
	return nil
}
