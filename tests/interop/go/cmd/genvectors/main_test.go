package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// committedVectors is the vectors directory of the repository, relative to
// this package.
const committedVectors = "../../../../vectors"

func TestMain(m *testing.M) {
	// The generator runs this test binary as its stand-in plugin.
	if isStubInvocation() {
		os.Exit(runStub())
	}
	os.Exit(m.Run())
}

// TestCommittedVectorsAreCurrent regenerates every vector and fails if the
// committed files differ in any byte, or if a file is missing or stale.
func TestCommittedVectorsAreCurrent(t *testing.T) {
	tmp := t.TempDir()
	names, err := generate(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		want, err := os.ReadFile(filepath.Join(tmp, filepath.FromSlash(name)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(committedVectors, filepath.FromSlash(name)))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what the Go reference produces now", name)
		}
	}
	for _, d := range vectorDirs {
		committed, err := filepath.Glob(filepath.Join(committedVectors, d, "*.json"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range committed {
			if !slices.Contains(names, d+"/"+filepath.Base(f)) {
				t.Errorf("%s/%s is not produced by the generator any more", d, filepath.Base(f))
			}
		}
	}
	if t.Failed() {
		t.Log("regenerate with: go run ./cmd/genvectors -out ../../vectors")
	}
}

// TestVectorShape checks the documented layout of the generated files.
func TestVectorShape(t *testing.T) {
	files, err := render()
	if err != nil {
		t.Fatal(err)
	}
	for name, raw := range files {
		if !bytes.HasSuffix(raw, []byte("}\n")) || bytes.HasSuffix(raw, []byte("\n\n")) {
			t.Errorf("%s: must end with exactly one newline", name)
		}
		var doc map[string]any
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if doc["name"] != filepath.Base(name[:len(name)-len(".json")]) {
			t.Errorf("%s: name field is %v", name, doc["name"])
		}
		if d, _ := doc["description"].(string); d == "" {
			t.Errorf("%s: no description", name)
		}
	}
}
