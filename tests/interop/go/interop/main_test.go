//go:build interop

// Package interop checks, end to end, that our hosts and plugins and the Go
// reference (github.com/sigstore/sigstore, pkg/signature/kms/cliplugin) and
// cosign interoperate in both directions. Run it with
//
//	go test -tags interop -count=1 -timeout 30m ./interop/
//
// from tests/interop/go (`make test-interop` does; tests/interop/run.sh wraps
// it). It builds or locates everything it needs once (TestMain):
//
//   - the Go programs of this module (cmd/kmshost, cmd/sigstore-kms-gokms,
//     cmd/sigstore-kms-recorder), with `go build`;
//   - our `sigstore-kms` and `sigstore-kms-localkms` from INTEROP_BIN_DIR, or by
//     running `cargo build --workspace --bin sigstore-kms --bin sigstore-kms-localkms` at the
//     repository root (CARGO_TARGET_DIR is honoured);
//   - the Rust host tests/interop/rust (INTEROP_RUST_HOST, or cargo build);
//   - the Python host and Python-SDK plugin when `import sigstore_kms_plugins`
//     works (INTEROP_PYTHON, else python, python3, then the repository's
//     .venv/bin/python; the plugin also needs `cryptography`);
//   - the Node host and JS-SDK plugin when the package at the repository root
//     (INTEROP_NODE_PACKAGE) loads in node (INTEROP_NODE, else node);
//   - cosign (see cosign_test.go; INTEROP_COSIGN=0 skips it).
//
// What ran and what was skipped, and why, is printed at the end.
package interop

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// env is everything TestMain found or built.
type env struct {
	repo     string // repository root
	work     string // scratch directory for the whole run
	goBin    string // kmshost, sigstore-kms-gokms, sigstore-kms-recorder
	ourBin   string // sigstore-kms, sigstore-kms-localkms
	linkBin  string // sigstore-kms-localkms -> sigstore-kms (the CLI acting as the plugin)
	sdkBin   string // wrappers sigstore-kms-pysdk, sigstore-kms-jssdk
	rustHost string // interop-host

	python, pythonWhy string // interpreter with sigstore_kms_plugins, or why not
	pyPlugin          bool   // the Python-SDK plugin can run
	pyPluginWhy       string // why not
	node, nodeWhy     string // node with the package loadable, or why not
	nodePackage       string
}

var (
	e      env
	report = newReport()
)

func TestMain(m *testing.M) {
	code, err := setup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "interop setup failed:", err)
		os.Exit(1)
	}
	if code == 0 {
		code = m.Run()
	}
	if path := os.Getenv("INTEROP_SUMMARY"); path == "" {
		report.print(os.Stderr)
	} else {
		// `go test` shows a passing package's output only with -v: the
		// runner prints this file instead.
		if f, err := os.Create(path); err == nil {
			report.print(f)
			f.Close()
		}
	}
	if os.Getenv("INTEROP_KEEP") == "" {
		os.RemoveAll(e.work)
	} else {
		fmt.Fprintln(os.Stderr, "INTEROP_KEEP: scratch files kept in", e.work)
	}
	os.Exit(code)
}

func setup() (int, error) {
	wd, err := os.Getwd()
	if err != nil {
		return 1, err
	}
	e.repo, err = filepath.Abs(filepath.Join(wd, "..", "..", "..", ".."))
	if err != nil {
		return 1, err
	}
	if _, err := os.Stat(filepath.Join(e.repo, "core", "Cargo.toml")); err != nil {
		return 1, fmt.Errorf("the repository root is not %s: %w", e.repo, err)
	}
	if e.work, err = os.MkdirTemp("", "sigstore-kms-interop-"); err != nil {
		return 1, err
	}
	steps := []struct {
		name string
		fn   func() error
	}{
		{"go build (host, Go plugin, recorder)", buildGo},
		{"our binaries", buildOurs},
		{"Rust host", buildRustHost},
		{"link sigstore-kms-localkms -> sigstore-kms", makeLink},
		{"probe Python", probePython},
		{"probe Node", probeNode},
		{"SDK plugin wrappers", makeSDKWrappers},
	}
	for _, s := range steps {
		start := time.Now()
		if err := s.fn(); err != nil {
			return 1, fmt.Errorf("%s: %w", s.name, err)
		}
		report.timing(s.name, time.Since(start))
	}
	return 0, nil
}

func buildGo() error {
	e.goBin = filepath.Join(e.work, "gobin")
	if err := os.MkdirAll(e.goBin, 0o755); err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-o", e.goBin, "./cmd/kmshost", "./cmd/sigstore-kms-gokms", "./cmd/sigstore-kms-recorder")
	cmd.Dir = filepath.Join(e.repo, "tests", "interop", "go")
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v\n%s", err, out)
	}
	return nil
}

// cargoBuild runs cargo build with args and returns the executables it
// produced, by name. In the repository it selects targets (--bin) within
// --workspace: cargo unifies dependency features over the packages selected,
// so `-p X` would compile dozens of dependencies again with another feature set
// than `make test-rust` left built (over a minute with the cloud SDKs).
func cargoBuild(dir string, args ...string) (map[string]string, error) {
	full := []string{"build", "--message-format=json-render-diagnostics"}
	if dir == e.repo {
		full = append(full, "--workspace")
	}
	full = append(full, args...)
	cmd := exec.Command("cargo", full...)
	cmd.Dir = dir
	if os.Getenv("CARGO_TARGET_DIR") == "" {
		// The Rust host is a workspace of its own: share the repository's
		// target directory, so its dependencies are compiled once.
		cmd.Env = append(os.Environ(), "CARGO_TARGET_DIR="+filepath.Join(e.repo, "target"))
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("cargo %s (in %s): %v\n%s", strings.Join(full, " "), dir, err, stderr.String())
	}
	exes := map[string]string{}
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var msg struct {
			Reason     string  `json:"reason"`
			Executable *string `json:"executable"`
		}
		if json.Unmarshal(sc.Bytes(), &msg) == nil && msg.Reason == "compiler-artifact" && msg.Executable != nil {
			exes[filepath.Base(*msg.Executable)] = *msg.Executable
		}
	}
	return exes, nil
}

// providerPrograms returns the provider plugin programs names (by name): from
// INTEROP_PROVIDER_BIN_DIR when it is set (`make test` sets it to the release
// programs unpacked from dist/'s npm platform packages: the very files users
// install, built once by `make dist`), else built by `cargo build` with
// cargoArgs. how says which, for the report.
func providerPrograms(names []string, cargoArgs ...string) (exes map[string]string, how string, err error) {
	if dir := os.Getenv("INTEROP_PROVIDER_BIN_DIR"); dir != "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, "", err
		}
		exes = map[string]string{}
		for _, n := range names {
			p := filepath.Join(abs, n)
			st, err := os.Stat(p)
			if err != nil {
				return nil, "", fmt.Errorf("INTEROP_PROVIDER_BIN_DIR=%s has no %s (run `make dist`, or unset it to build with cargo): %w", dir, n, err)
			}
			if st.Mode()&0o111 == 0 {
				return nil, "", fmt.Errorf("INTEROP_PROVIDER_BIN_DIR=%s: %s is not executable", dir, n)
			}
			exes[n] = p
		}
		return exes, "release programs from INTEROP_PROVIDER_BIN_DIR=" + abs, nil
	}
	exes, err = cargoBuild(e.repo, cargoArgs...)
	if err != nil {
		return nil, "", err
	}
	for _, n := range names {
		if exes[n] == "" {
			return nil, "", fmt.Errorf("cargo did not report %s: %v", n, exes)
		}
	}
	return exes, "cargo build " + strings.Join(cargoArgs, " "), nil
}

func buildOurs() error {
	if dir := os.Getenv("INTEROP_BIN_DIR"); dir != "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return err
		}
		for _, n := range []string{"sigstore-kms", "sigstore-kms-localkms"} {
			if _, err := os.Stat(filepath.Join(abs, n)); err != nil {
				return fmt.Errorf("INTEROP_BIN_DIR=%s: %w", dir, err)
			}
		}
		report.note("our binaries", "from INTEROP_BIN_DIR="+abs)
		return linkOurs(filepath.Join(abs, "sigstore-kms"), filepath.Join(abs, "sigstore-kms-localkms"))
	}
	exes, err := cargoBuild(e.repo, "--bin", "sigstore-kms", "--bin", "sigstore-kms-localkms")
	if err != nil {
		return err
	}
	cli, plugin := exes["sigstore-kms"], exes["sigstore-kms-localkms"]
	if cli == "" || plugin == "" {
		return fmt.Errorf("cargo did not report both executables: %v", exes)
	}
	report.note("our binaries", "cargo build: "+filepath.Dir(cli))
	return linkOurs(cli, plugin)
}

// linkOurs puts our two programs, and nothing else, in a PATH directory of
// their own (a target directory holds many other files).
func linkOurs(cli, plugin string) error {
	e.ourBin = filepath.Join(e.work, "ourbin")
	if err := os.MkdirAll(e.ourBin, 0o755); err != nil {
		return err
	}
	if err := os.Symlink(cli, filepath.Join(e.ourBin, "sigstore-kms")); err != nil {
		return err
	}
	// The plugin is a symbolic link with its own name: it is its own program.
	return os.Symlink(plugin, filepath.Join(e.ourBin, "sigstore-kms-localkms"))
}

func buildRustHost() error {
	if p := os.Getenv("INTEROP_RUST_HOST"); p != "" {
		e.rustHost = p
		report.note("Rust host", "from INTEROP_RUST_HOST="+p)
		return nil
	}
	exes, err := cargoBuild(filepath.Join(e.repo, "tests", "interop", "rust"))
	if err != nil {
		return err
	}
	if e.rustHost = exes["interop-host"]; e.rustHost == "" {
		return fmt.Errorf("cargo did not report interop-host: %v", exes)
	}
	return nil
}

func makeLink() error {
	e.linkBin = filepath.Join(e.work, "linkbin")
	if err := os.MkdirAll(e.linkBin, 0o755); err != nil {
		return err
	}
	target, err := filepath.EvalSymlinks(filepath.Join(e.ourBin, "sigstore-kms"))
	if err != nil {
		return err
	}
	return os.Symlink(target, filepath.Join(e.linkBin, "sigstore-kms-localkms"))
}

func probePython() error {
	candidates := []string{"python", "python3", filepath.Join(e.repo, ".venv", "bin", "python")}
	if p := os.Getenv("INTEROP_PYTHON"); p != "" {
		candidates = []string{p}
	}
	var why []string
	for _, c := range candidates {
		path, err := exec.LookPath(c)
		if err != nil {
			why = append(why, fmt.Sprintf("%s: not found", c))
			continue
		}
		out, err := exec.Command(path, "-c", "import sigstore_kms_plugins, sys; print(sys.executable)").CombinedOutput()
		if err != nil {
			why = append(why, fmt.Sprintf("%s: import sigstore_kms_plugins failed: %s", c, lastLine(out)))
			continue
		}
		e.python = path
		report.note("Python", fmt.Sprintf("%s (%s)", path, strings.TrimSpace(string(out))))
		if out, err := exec.Command(path, "-c", "import cryptography").CombinedOutput(); err != nil {
			e.pyPluginWhy = "the Python-SDK plugin needs the cryptography package: " + lastLine(out)
		} else {
			e.pyPlugin = true
		}
		return nil
	}
	e.pythonWhy = strings.Join(why, "; ")
	e.pyPluginWhy = "no Python with sigstore_kms_plugins"
	return requireHost("python", e.pythonWhy)
}

// requireHost fails the run when INTEROP_REQUIRE (a comma-separated list, e.g.
// "python,node", as `make test` sets it) names a host that is not available, so that CI cannot
// pass by skipping it.
func requireHost(name, why string) error {
	for _, want := range strings.Split(os.Getenv("INTEROP_REQUIRE"), ",") {
		if strings.TrimSpace(want) == name && why != "" {
			return fmt.Errorf("INTEROP_REQUIRE names %s, but it is not available: %s", name, why)
		}
	}
	return nil
}

func probeNode() error {
	e.nodePackage = os.Getenv("INTEROP_NODE_PACKAGE")
	if e.nodePackage == "" {
		e.nodePackage = e.repo
	}
	name := os.Getenv("INTEROP_NODE")
	if name == "" {
		name = "node"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		e.nodeWhy = name + ": not found"
		return requireHost("node", e.nodeWhy)
	}
	script := `const p = require(process.argv[1]); require(require('path').join(process.argv[1], 'node', 'plugin.js'));
if (typeof p.getSignerVerifier !== 'function') throw new Error('no getSignerVerifier');
console.log(process.version)`
	out, err := exec.Command(path, "-e", script, e.nodePackage).CombinedOutput()
	if err != nil {
		e.nodeWhy = fmt.Sprintf("require(%q) failed: %s", e.nodePackage, lastLine(out))
		return requireHost("node", e.nodeWhy)
	}
	e.node = path
	report.note("Node", fmt.Sprintf("%s %s, package %s", path, strings.TrimSpace(string(out)), e.nodePackage))
	return nil
}

func makeSDKWrappers() error {
	e.sdkBin = filepath.Join(e.work, "sdkbin")
	if err := os.MkdirAll(e.sdkBin, 0o755); err != nil {
		return err
	}
	plugins := filepath.Join(e.repo, "tests", "interop", "plugins")
	write := func(name, interp, script string, env ...string) error {
		var b strings.Builder
		b.WriteString("#!/bin/sh\n")
		for _, kv := range env {
			b.WriteString("export " + shellQuote(kv) + "\n")
		}
		fmt.Fprintf(&b, "exec %s %s \"$@\"\n", shellQuote(interp), shellQuote(filepath.Join(plugins, script)))
		return os.WriteFile(filepath.Join(e.sdkBin, name), []byte(b.String()), 0o755)
	}
	if e.python != "" && e.pyPlugin {
		if err := write("sigstore-kms-pysdk", e.python, "pysdk_plugin.py"); err != nil {
			return err
		}
	}
	if e.node != "" {
		if err := write("sigstore-kms-jssdk", e.node, "jssdk_plugin.js", "INTEROP_NODE_PACKAGE="+e.nodePackage); err != nil {
			return err
		}
	}
	return nil
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}

// timed records how long test t took, in the summary.
func timed(t *testing.T) {
	start := time.Now()
	t.Cleanup(func() { report.timing("test "+t.Name(), time.Since(start)) })
}

// ----- the end-of-run report --------------------------------------------------

type runReport struct {
	mu      sync.Mutex
	notes   [][2]string
	timings [][2]string
	ran     map[string]map[string]bool // section -> item -> passed
	skipped map[string]map[string]string
	finds   []string
}

func newReport() *runReport {
	return &runReport{ran: map[string]map[string]bool{}, skipped: map[string]map[string]string{}}
}

func (r *runReport) note(k, v string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notes = append(r.notes, [2]string{k, v})
}

func (r *runReport) timing(k string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.timings = append(r.timings, [2]string{k, d.Round(10 * time.Millisecond).String()})
}

// track records that item of section ran in t, and whether it passed (when t ends).
func (r *runReport) track(t *testing.T, section, item string) {
	t.Cleanup(func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.ran[section] == nil {
			r.ran[section] = map[string]bool{}
		}
		r.ran[section][item] = !t.Failed()
	})
}

func (r *runReport) skip(section, item, why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.skipped[section] == nil {
		r.skipped[section] = map[string]string{}
	}
	r.skipped[section][item] = why
}

// finding records a difference from the Go reference that the tests observed.
func (r *runReport) finding(text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range r.finds {
		if f == text {
			return
		}
	}
	r.finds = append(r.finds, text)
}

func (r *runReport) print(w *os.File) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintln(w, "\n=== interop summary ===")
	for _, n := range r.notes {
		fmt.Fprintf(w, "  %-22s %s\n", n[0]+":", n[1])
	}
	sections := map[string]bool{}
	for s := range r.ran {
		sections[s] = true
	}
	for s := range r.skipped {
		sections[s] = true
	}
	names := make([]string, 0, len(sections))
	for s := range sections {
		names = append(names, s)
	}
	sort.Strings(names)
	for _, s := range names {
		var ran []string
		for item, passed := range r.ran[s] {
			if !passed {
				item += " (FAILED)"
			}
			ran = append(ran, item)
		}
		sort.Strings(ran)
		fmt.Fprintf(w, "  %s\n      ran:     %s\n", s, strings.Join(ran, ", "))
		var skipped []string
		for item := range r.skipped[s] {
			skipped = append(skipped, item)
		}
		sort.Strings(skipped)
		for _, item := range skipped {
			fmt.Fprintf(w, "      skipped: %s (%s)\n", item, r.skipped[s][item])
		}
	}
	if len(r.timings) > 0 {
		fmt.Fprintln(w, "  timings:")
		for _, t := range r.timings {
			fmt.Fprintf(w, "      %-44s %s\n", t[0], t[1])
		}
	}
	if len(r.finds) > 0 {
		fmt.Fprintln(w, "  differences from the Go reference observed:")
		for _, f := range r.finds {
			fmt.Fprintf(w, "    - %s\n", f)
		}
	}
}
