package fleet

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// goEnv prepares offline Go for the hosts and returns the environment their
// sessions get (see the package doc).
func goEnv(ctx context.Context, f *Fleet, source string) ([]string, error) {
	out, err := run(ctx, "go", "env", "GOROOT", "GOMODCACHE", "GOCACHE")
	if err != nil {
		return nil, err
	}
	vals := strings.Split(out, "\n")
	if len(vals) != 3 {
		return nil, fmt.Errorf("go env: unexpected output %q", out)
	}
	goroot, modcache, gocache := vals[0], vals[1], vals[2]
	// Make sure the download cache holds every module the source needs.
	if _, err := runEnv(ctx, []string{"GOFLAGS=-mod=mod"}, source, "go", "mod", "download"); err != nil {
		return nil, fmt.Errorf("fill the module cache for offline builds: %w", err)
	}
	download := filepath.Join(modcache, "cache", "download")
	env := []string{
		"PATH=" + filepath.Join(goroot, "bin") + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"GOTOOLCHAIN=local", "GOSUMDB=off", "GOFLAGS=-mod=mod",
		// Debian's bash sources ~/.bashrc for commands run by sshd unless it
		// is a nested shell; SHLVL=1 makes it one. A developer's .bashrc
		// (pyenv init and the like) would otherwise cost every remote
		// command half a second, and loopback hosts share that .bashrc.
		"SHLVL=1",
	}
	if f.Mode == Loopback {
		return append(env, "GOPROXY=file://"+download, "GOMODCACHE="+modcache, "GOCACHE="+gocache), nil
	}
	proxy := filepath.Join(f.Dir, "goproxy")
	if err := linkTree(download, proxy); err != nil {
		return nil, fmt.Errorf("copy the module cache for offline builds: %w", err)
	}
	env = append(env, "GOPROXY=file://"+proxy)
	shared := filepath.Join(f.Dir, "gocache")
	if err := makeGroupDir(ctx, shared, f.Net.Group); err != nil {
		// Without ACLs each host user keeps its own cache: slower, still right.
		return env, nil //nolint:nilerr // a shared cache is an optimisation
	}
	return append(env, "GOCACHE="+shared), nil
}

// makeGroupDir makes a folder whose files, whoever of group writes them, the
// whole group can write: setgid to the group, and a default ACL granting the
// group rwx, which new files and folders inherit whatever the umask (sshd
// forces at least 022 on its sessions, so the umask cannot do this).
func makeGroupDir(ctx context.Context, dir, group string) error {
	if err := os.Mkdir(dir, 0o775); err != nil {
		return err
	}
	if _, err := run(ctx, "chown", "root:"+group, dir); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o775|fs.ModeSetgid); err != nil {
		return err
	}
	return syscall.Setxattr(dir, "system.posix_acl_default", defaultACL(7, 7, 5), 0)
}

// defaultACL encodes a minimal POSIX ACL (owner, group, other permissions)
// in the kernel's xattr format: version 2, then (tag, perm, id) entries.
func defaultACL(user, group, other uint16) []byte {
	const (
		version  = 2
		userObj  = 0x01
		groupObj = 0x04
		otherTag = 0x20
		noID     = 0xffffffff
	)
	b := binary.LittleEndian.AppendUint32(nil, version)
	for _, e := range [][2]uint16{{userObj, user}, {groupObj, group}, {otherTag, other}} {
		b = binary.LittleEndian.AppendUint16(b, e[0])
		b = binary.LittleEndian.AppendUint16(b, e[1])
		b = binary.LittleEndian.AppendUint32(b, noID)
	}
	return b
}

// linkTree copies the module download cache at src to dst, hard-linking files
// where it can, leaving out the checksum database and lock files.
func linkTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			if rel == "sumdb" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if strings.HasSuffix(rel, ".lock") || strings.Contains(rel, ".partial") || strings.Contains(rel, ".tmp") {
			return nil
		}
		target := filepath.Join(dst, rel)
		if os.Link(path, target) == nil {
			return nil
		}
		return copyFile(path, target)
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
