package api

import (
	"go/build"
	"slices"
	"testing"
)

// TestImportsStandardLibraryOnly keeps shared/api a leaf that every binary
// can import: the package and its tests may use the standard library only.
func TestImportsStandardLibraryOnly(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatalf("read package: %v", err)
	}
	imports := slices.Concat(pkg.Imports, pkg.TestImports, pkg.XTestImports)
	if len(imports) == 0 {
		t.Fatal("found no imports; the check would pass vacuously")
	}
	for _, path := range imports {
		dep, err := build.Import(path, ".", build.FindOnly)
		if err != nil {
			t.Errorf("resolve import %q: %v", path, err)
			continue
		}
		if !dep.Goroot {
			t.Errorf("shared/api imports %q, which is not in the standard library", path)
		}
	}
}
