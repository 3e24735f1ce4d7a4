package provision

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path"

	"github.com/pkg/sftp"
)

// SFTP returns an SFTP client on the same connection, opened on first use
// and closed by [Client.Close].
func (c *Client) SFTP() (*sftp.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sftp != nil {
		return c.sftp, nil
	}
	s, err := sftp.NewClient(c.conn)
	if err != nil {
		return nil, fmt.Errorf("open sftp on %s: %w", c.dest, err)
	}
	c.sftp = s
	return s, nil
}

// WriteFileAtomic writes data to the remote file at name (absolute, or
// relative to the remote home; see [Client.ExpandHome] for "~") so that
// readers see either the old file or the whole new one: it writes a temp file
// in the same directory, readable only by the owner while being written,
// checks its size, sets mode and renames it into place (posix-rename, which
// replaces an existing file). The temp file is removed on every failure.
// When ctx is done the transfer stops.
func (c *Client) WriteFileAtomic(ctx context.Context, name string, data []byte, mode os.FileMode) error {
	if err := c.writeFileAtomic(ctx, name, data, mode); err != nil {
		return fmt.Errorf("write %s on %s: %w", name, c.dest, err)
	}
	return nil
}

func (c *Client) writeFileAtomic(ctx context.Context, name string, data []byte, mode os.FileMode) (err error) {
	fs, err := c.SFTP()
	if err != nil {
		return err
	}
	tmp := path.Join(path.Dir(name), "."+path.Base(name)+".tmp-"+rand.Text()[:10])
	f, err := fs.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return fmt.Errorf("create temp file: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { f.Close() })
	defer func() {
		stop()
		if err != nil {
			f.Close()
			fs.Remove(tmp)
		}
	}()
	if err := writeAll(ctx, f, data, mode); err != nil {
		return fmt.Errorf("write temp file %s: %w", tmp, err)
	}
	if err := fs.PosixRename(tmp, name); err != nil {
		return fmt.Errorf("rename temp file into place: %w", err)
	}
	return nil
}

// writeAll writes data to f with mode 0600, then sets mode, closes f and
// checks that the file on the server has the right size.
func writeAll(ctx context.Context, f *sftp.File, data []byte, mode os.FileMode) error {
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(mode.Perm()); err != nil {
		return err
	}
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if info.Size() != int64(len(data)) {
		return fmt.Errorf("wrote %d bytes, the server has %d", len(data), info.Size())
	}
	return context.Cause(ctx)
}
