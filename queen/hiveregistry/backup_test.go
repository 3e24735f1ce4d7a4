package hiveregistry

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestBackupWhileWriting(t *testing.T) {
	r, path := openTemp(t)
	for i := range 20 {
		if err := r.Add(t.Context(), sampleNode(t, fmt.Sprintf("gpu-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() { // a queen that keeps writing during the backup
		for i := 20; i < 120; i++ {
			if err := r.Add(t.Context(), sampleNode(t, fmt.Sprintf("gpu-%d", i))); err != nil {
				t.Error(err)
				return
			}
		}
	})
	dst := filepath.Join(t.TempDir(), "backup.db")
	err := Backup(t.Context(), path, dst)
	wg.Wait()
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if info, err := os.Stat(dst); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v, want mode 0600", info, err)
	}
	copyReg, err := Open(t.Context(), dst)
	if err != nil {
		t.Fatalf("open the backup: %v", err)
	}
	defer copyReg.Close()
	nodes, err := copyReg.List(t.Context())
	if err != nil || len(nodes) < 20 || len(nodes) > 120 {
		t.Fatalf("backup holds %d nodes (%v), want the 20 before it and at most all 120", len(nodes), err)
	}
	if err := copyReg.QuickCheck(t.Context()); err != nil {
		t.Errorf("backup: %v", err)
	}
}

func TestBackupNeverOverwrites(t *testing.T) {
	_, path := openTemp(t)
	dst := filepath.Join(t.TempDir(), "keep.db")
	if err := os.WriteFile(dst, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Backup(t.Context(), path, dst); err == nil || !strings.Contains(err.Error(), "never overwrites") {
		t.Fatalf("Backup over an existing file: %v", err)
	}
	if data, _ := os.ReadFile(dst); string(data) != "precious" {
		t.Errorf("existing file changed to %q", data)
	}
	if err := Backup(t.Context(), filepath.Join(t.TempDir(), "none.db"), filepath.Join(t.TempDir(), "b.db")); err == nil ||
		!strings.Contains(err.Error(), "no hive registry") {
		t.Errorf("Backup of a missing file: %v", err)
	}
}

func TestQuickCheckFindsADamagedPage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "beehives.db")
	r, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if err := r.Add(t.Context(), sampleNode(t, fmt.Sprintf("gpu-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.QuickCheck(t.Context()); err != nil {
		t.Fatalf("sound file: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) < 8*4096 {
		t.Fatalf("file is only %d bytes; the test needs data pages to damage", len(data))
	}
	for i := 4 * 4096; i < 6*4096; i++ { // two pages past the schema
		data[i] = 0xA5
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	damaged, err := Open(t.Context(), path)
	if err != nil {
		t.Skipf("Open already refuses the damaged file: %v", err)
	}
	defer damaged.Close()
	if err := damaged.QuickCheck(t.Context()); !errors.Is(err, ErrCorrupt) {
		t.Errorf("QuickCheck of a damaged file: %v, want ErrCorrupt", err)
	}
}
