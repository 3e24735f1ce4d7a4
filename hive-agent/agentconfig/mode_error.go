package agentconfig

import (
	"fmt"
	"io/fs"
)

// ModeError is a config file that group or others may access. The file
// holds the hive token, so the agent refuses to start.
type ModeError struct {
	// Path is the config file.
	Path string
	// Mode is its permission bits.
	Mode fs.FileMode
}

// Error names the file, its mode and the chmod that fixes it.
func (e *ModeError) Error() string {
	return fmt.Sprintf("config %s has mode %04o, so group or others may read the hive token; run `chmod 600 %s`",
		e.Path, uint32(e.Mode), e.Path)
}
