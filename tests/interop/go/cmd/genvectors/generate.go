package main

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// vectorDirs are the subdirectories the generator owns: every *.json file in
// them is generated, and stale ones are removed.
var vectorDirs = []string{"requests", "responses"}

// render builds all vector files, keyed by path relative to the vectors
// directory. It temporarily points PATH at a directory holding the stand-in
// plugin "sigstore-kms-capture" (this very executable).
func render() (map[string][]byte, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	stubDir, err := os.MkdirTemp("", "genvectors-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(stubDir)
	if err := os.Symlink(self, filepath.Join(stubDir, "sigstore-kms-capture")); err != nil {
		return nil, err
	}
	restore, err := setenv(map[string]string{
		"PATH":  stubDir,
		stubEnv: filepath.Join(stubDir, "capture.json"),
	})
	if err != nil {
		return nil, err
	}
	defer restore()

	reqs, err := renderRequests(stubDir)
	if err != nil {
		return nil, err
	}
	resps, err := renderResponses()
	if err != nil {
		return nil, err
	}
	files := reqs
	maps.Copy(files, resps)
	return files, nil
}

// setenv sets variables and returns a function that puts the old values back.
func setenv(vars map[string]string) (func(), error) {
	type old struct {
		val string
		set bool
	}
	saved := map[string]old{}
	restore := func() {
		for k, o := range saved {
			if o.set {
				os.Setenv(k, o.val)
			} else {
				os.Unsetenv(k)
			}
		}
	}
	for k, v := range vars {
		val, set := os.LookupEnv(k)
		saved[k] = old{val, set}
		if err := os.Setenv(k, v); err != nil {
			restore()
			return nil, err
		}
	}
	return restore, nil
}

// generate writes all vectors under outDir and returns their relative paths.
func generate(outDir string) ([]string, error) {
	files, err := render()
	if err != nil {
		return nil, err
	}
	for _, d := range vectorDirs {
		dir := filepath.Join(outDir, d)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		stale, err := filepath.Glob(filepath.Join(dir, "*.json"))
		if err != nil {
			return nil, err
		}
		for _, f := range stale {
			if _, keep := files[d+"/"+filepath.Base(f)]; !keep {
				if err := os.Remove(f); err != nil {
					return nil, err
				}
			}
		}
	}
	names := slices.Sorted(maps.Keys(files))
	for _, name := range names {
		if !strings.HasSuffix(name, ".json") {
			return nil, fmt.Errorf("unexpected vector name %s", name)
		}
		if err := os.WriteFile(filepath.Join(outDir, filepath.FromSlash(name)), files[name], 0o644); err != nil {
			return nil, err
		}
	}
	return names, nil
}
