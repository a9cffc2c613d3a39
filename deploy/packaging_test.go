package deploy_test

// The packaging tests run the Makefile's own targets (make image, make
// release, make run) and check what they produce: the container image's
// configuration and files, the release binaries and their checksums, and
// that Ctrl-C ends the demo cleanly.

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// repoRoot is the module root, where the Makefile lives.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "Makefile")); err != nil {
		t.Fatalf("no Makefile at the module root: %v", err)
	}
	return root
}

// makeEnv is the test's environment without what would steer the child
// make: the variables of an enclosing make (its jobserver descriptors are
// not inherited) and the stamping variables, which the Makefile takes from
// the environment.
func makeEnv() []string {
	drop := []string{"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "VERSION", "COMMIT", "DATE",
		"SOURCE_DATE_EPOCH", "IMAGE", "IMAGE_ARCH", "IMAGE_CONTEXT", "BUILDAH", "DIST", "PLATFORMS", "RUNARGS", "BIN"}
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(drop, name) {
			env = append(env, kv)
		}
	}
	return env
}

// runMake runs make in dir with args and returns its standard output.
func runMake(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(needTool(t, "make"), append([]string{"--no-print-directory"}, args...)...)
	cmd.Dir, cmd.Env = dir, makeEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("make %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(makeEnv(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=imzagate", "GIT_AUTHOR_EMAIL=dev@imzagate.example",
		"GIT_COMMITTER_NAME=imzagate", "GIT_COMMITTER_EMAIL=dev@imzagate.example")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commitStamp is the commit and date the Makefile stamps by default: HEAD
// and its commit time in UTC.
func commitStamp(t *testing.T, root string) (commit, date string) {
	t.Helper()
	commit = git(t, root, "rev-parse", "HEAD")
	secs, err := strconv.ParseInt(git(t, root, "log", "-1", "--format=%ct"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return commit, time.Unix(secs, 0).UTC().Format(time.RFC3339)
}

// splitRef splits registry/name:tag at the tag's colon (a registry may
// carry a port).
func splitRef(ref string) (name, tag string) {
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.Contains(ref[i:], "/") {
		return ref, ""
	}
	return ref[:i], ref[i+1:]
}

// TestImageTagFollowsGitDescribe runs the Makefile in a scratch repository
// through the life of a release: before the first tag, on the tag, with
// uncommitted changes, and a commit after it.
func TestImageTagFollowsGitDescribe(t *testing.T) {
	needTool(t, "git")
	dir := t.TempDir()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Makefile"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, dir, "init", "-q")
	git(t, dir, "add", "Makefile")
	git(t, dir, "commit", "-q", "-m", "first")
	image := func() string { return strings.TrimSpace(runMake(t, dir, "-s", "image-ref")) }

	name, tag := splitRef(image())
	if name != "registry.example.az/imzagate" {
		t.Errorf("image name %q, want the manifests' registry.example.az/imzagate", name)
	}
	if want := "0.0.0-dev." + git(t, dir, "rev-parse", "--short=12", "HEAD"); tag != want {
		t.Errorf("untagged tree: tag %q, want %q", tag, want)
	}
	git(t, dir, "tag", "v0.1.0")
	if _, tag := splitRef(image()); tag != "v0.1.0" {
		t.Errorf("on tag v0.1.0: image tag %q, want v0.1.0 (what the Deployment pins)", tag)
	}
	if err := os.WriteFile(filepath.Join(dir, "Makefile"), append(raw, "# local change\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, tag := splitRef(image()); tag != "v0.1.0-dirty" {
		t.Errorf("uncommitted change: image tag %q, want v0.1.0-dirty", tag)
	}
	git(t, dir, "commit", "-q", "-am", "second")
	if _, tag := splitRef(image()); !regexp.MustCompile(`^v0\.1\.0-1-g[0-9a-f]{7,}$`).MatchString(tag) {
		t.Errorf("one commit after v0.1.0: image tag %q, want v0.1.0-1-g<commit>", tag)
	}
}

// TestDeploymentImageIsWhatMakeImageTags: the Deployment pins the image
// `make image` tags on a release commit: the Makefile's IMAGE and a release
// tag, never :latest or a development build.
func TestDeploymentImageIsWhatMakeImageTags(t *testing.T) {
	dep := find(t, loadManifests(t), "Deployment")
	ref, _ := dig(dep.obj, "spec", "template", "spec", "containers", 0, "image").(string)
	_, tag := splitRef(ref)
	if !regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+$`).MatchString(tag) {
		t.Fatalf("Deployment image %q: want a release tag vMAJOR.MINOR.PATCH (git tag = make image's VERSION)", ref)
	}
	if got := strings.TrimSpace(runMake(t, repoRoot(t), "-s", "image-ref", "VERSION="+tag)); got != ref {
		t.Errorf("make image on tag %s tags %q, but the Deployment pulls %q", tag, got, ref)
	}
}

// imageConfig is the part of `buildah inspect --type image` checked here.
type imageConfig struct {
	OCIv1 struct {
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
		Config       struct {
			User         string              `json:"User"`
			Entrypoint   []string            `json:"Entrypoint"`
			Cmd          []string            `json:"Cmd"`
			ExposedPorts map[string]struct{} `json:"ExposedPorts"`
			Labels       map[string]string   `json:"Labels"`
		} `json:"config"`
	} `json:"OCIv1"`
}

// TestImageBuiltByMakeImage runs `make image` into a private buildah store
// and checks the result: the image's configuration, its exact list of
// files (no shell, nothing but the binary, the CA bundle and passwd/group),
// and the binary run inside it.
func TestImageBuiltByMakeImage(t *testing.T) {
	buildah := needTool(t, "buildah")
	root := repoRoot(t)
	dir := t.TempDir()
	// vfs needs no mounts, so the test runs wherever buildah does; the
	// private store keeps the test's images out of the machine's.
	store := []string{"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"), "--storage-driver", "vfs"}
	bah := func(args ...string) ([]byte, error) {
		cmd := exec.Command(buildah, append(slices.Clone(store), args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return out, fmt.Errorf("buildah %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
		return out, nil
	}
	t.Cleanup(func() {
		_, _ = bah("rm", "--all")
		_, _ = bah("rmi", "--all", "--force")
	})

	ref := strings.TrimSpace(runMake(t, root, "-s", "image-ref"))
	_, version := splitRef(ref)
	start := time.Now()
	runMake(t, root, "image", "BUILDAH="+buildah+" "+strings.Join(store, " "), "IMAGE_CONTEXT="+filepath.Join(dir, "context"))
	t.Logf("make image %s: %s", version, time.Since(start).Round(time.Millisecond))

	local := "localhost/imzagate:" + version
	var cfg imageConfig
	for _, name := range []string{local, ref} {
		out, err := bah("inspect", "--type", "image", name)
		if err != nil {
			t.Fatalf("make image did not tag %s: %v", name, err)
		}
		if err := json.Unmarshal(out, &cfg); err != nil {
			t.Fatal(err)
		}
	}
	checkImageConfig(t, cfg, version)

	oci := filepath.Join(dir, "oci")
	if _, err := bah("push", "--quiet", local, "oci:"+oci); err != nil {
		t.Fatal(err)
	}
	files, size := imageFiles(t, oci)
	t.Logf("image %s: one layer, %.1f MB compressed", local, float64(size)/1e6)
	checkImageFiles(t, files, version)

	out, how := runInImage(t, bah, store, local)
	if out == "" {
		return
	}
	first, _, _ := strings.Cut(out, "\n")
	if first != "imzagate "+version {
		t.Errorf("imzagate version inside the image (%s) printed %q, want %q", how, first, "imzagate "+version)
	}
	t.Logf("%s: %s", how, first)
}

func checkImageConfig(t *testing.T, cfg imageConfig, version string) {
	t.Helper()
	c := cfg.OCIv1.Config
	// The image's user is the Deployment's runAsUser:runAsGroup, and
	// neither is root.
	dep := find(t, loadManifests(t), "Deployment")
	uid, _ := dig(dep.obj, "spec", "template", "spec", "securityContext", "runAsUser").(int)
	gid, _ := dig(dep.obj, "spec", "template", "spec", "securityContext", "runAsGroup").(int)
	if want := strconv.Itoa(uid) + ":" + strconv.Itoa(gid); c.User != want || uid == 0 || gid == 0 {
		t.Errorf("image user %q, want the Deployment's non-root %s", c.User, want)
	}
	if !slices.Equal(c.Entrypoint, []string{"/imzagate"}) {
		t.Errorf("entrypoint %q, want [/imzagate]", c.Entrypoint)
	}
	args := toStrings(dig(dep.obj, "spec", "template", "spec", "containers", 0, "args"))
	if !slices.Equal(c.Cmd, []string{"serve", "--config", "/etc/imzagate/imzagate.yaml"}) || !slices.Equal(c.Cmd, args) {
		t.Errorf("cmd %q, want serve --config /etc/imzagate/imzagate.yaml, as the Deployment's args %q", c.Cmd, args)
	}
	for _, p := range []string{"8080/tcp", "9090/tcp"} {
		if _, ok := c.ExposedPorts[p]; !ok {
			t.Errorf("port %s not exposed (exposed: %v)", p, c.ExposedPorts)
		}
	}
	if cfg.OCIv1.OS != "linux" || cfg.OCIv1.Architecture != runtime.GOARCH {
		t.Errorf("platform %s/%s, want linux/%s", cfg.OCIv1.OS, cfg.OCIv1.Architecture, runtime.GOARCH)
	}
	commit, date := commitStamp(t, repoRoot(t))
	want := map[string]string{
		"org.opencontainers.image.title":    "imzagate",
		"org.opencontainers.image.version":  version,
		"org.opencontainers.image.revision": commit,
		"org.opencontainers.image.created":  date,
		"org.opencontainers.image.source":   "https://github.com/imzagate/imzagate",
		"org.opencontainers.image.licenses": "Apache-2.0",
	}
	for k, v := range want {
		if c.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, c.Labels[k], v)
		}
	}
}

// imageFile is one entry of the image's layers.
type imageFile struct {
	hdr  *tar.Header
	data []byte
}

// imageFiles reads an OCI layout directory (buildah push oci:DIR) and
// returns every entry of every layer, and the layers' stored size.
func imageFiles(t *testing.T, dir string) (map[string]imageFile, int64) {
	t.Helper()
	var index struct {
		Manifests []struct{ Digest string } `json:"manifests"`
	}
	var manifest struct {
		Layers []struct {
			MediaType string `json:"mediaType"`
			Digest    string `json:"digest"`
			Size      int64  `json:"size"`
		} `json:"layers"`
	}
	readJSON(t, filepath.Join(dir, "index.json"), &index)
	if len(index.Manifests) != 1 {
		t.Fatalf("OCI index has %d manifests, want 1", len(index.Manifests))
	}
	readJSON(t, blobPath(dir, index.Manifests[0].Digest), &manifest)
	if len(manifest.Layers) != 1 {
		t.Errorf("image has %d layers, want 1 (files only, squashed)", len(manifest.Layers))
	}
	files := map[string]imageFile{}
	var size int64
	for _, l := range manifest.Layers {
		size += l.Size
		f, err := os.Open(blobPath(dir, l.Digest))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var r io.Reader = f
		if strings.HasSuffix(l.MediaType, "+gzip") {
			if r, err = gzip.NewReader(f); err != nil {
				t.Fatal(err)
			}
		}
		tr := tar.NewReader(r)
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("layer %s: %v", l.Digest, err)
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[strings.TrimSuffix(strings.TrimPrefix(hdr.Name, "./"), "/")] = imageFile{hdr: hdr, data: data}
		}
	}
	return files, size
}

func blobPath(dir, digest string) string {
	algo, hexsum, _ := strings.Cut(digest, ":")
	return filepath.Join(dir, "blobs", algo, hexsum)
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func checkImageFiles(t *testing.T, files map[string]imageFile, version string) {
	t.Helper()
	var names []string
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	want := []string{"etc", "etc/group", "etc/passwd", "etc/ssl", "etc/ssl/certs", "etc/ssl/certs/ca-certificates.crt", "imzagate"}
	if !slices.Equal(names, want) {
		t.Errorf("image files %q, want exactly %q", names, want)
	}
	for _, sh := range []string{"bin/sh", "bin/busybox", "usr/bin/sh"} {
		if _, ok := files[sh]; ok {
			t.Errorf("the image has a shell (%s)", sh)
		}
	}
	for _, n := range []string{"imzagate", "etc/passwd", "etc/group", "etc/ssl/certs/ca-certificates.crt"} {
		f, ok := files[n]
		if !ok {
			continue
		}
		// Root-owned and not writable by the gateway's user.
		if f.hdr.Uid != 0 || f.hdr.Mode&0o222 != 0 || f.hdr.Typeflag != tar.TypeReg {
			t.Errorf("%s: uid %d mode %o type %c, want a read-only regular file owned by root", n, f.hdr.Uid, f.hdr.Mode, f.hdr.Typeflag)
		}
	}
	if !regexp.MustCompile(`(?m)^[a-z]+:x:65532:65532:`).Match(files["etc/passwd"].data) {
		t.Errorf("etc/passwd names no user 65532:\n%s", files["etc/passwd"].data)
	}
	host, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err == nil && !bytes.Equal(host, files["etc/ssl/certs/ca-certificates.crt"].data) {
		t.Error("the image's CA bundle is not the build host's")
	}
	if bin := files["imzagate"].data; len(bin) > 0 {
		commit, _ := commitStamp(t, repoRoot(t))
		checkStaticBinary(t, "imzagate in the image", bin, commit, version)
	}
}

// checkStaticBinary checks a release build: statically linked (no ELF
// interpreter), built with -trimpath and CGO_ENABLED=0, from commit. A
// non-empty version must be stamped in (only imzagate declares the
// variables -X sets; the other commands carry the commit in their VCS
// build info alone).
func checkStaticBinary(t *testing.T, what string, bin []byte, commit, version string) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Fatalf("%s: not an ELF file: %v", what, err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s is dynamically linked (has an ELF interpreter)", what)
		}
	}
	bi, err := buildinfo.Read(bytes.NewReader(bin))
	if err != nil {
		t.Fatalf("%s: no Go build info: %v", what, err)
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if settings["-trimpath"] != "true" || settings["CGO_ENABLED"] != "0" {
		t.Errorf("%s: build settings -trimpath=%q CGO_ENABLED=%q, want true and 0", what, settings["-trimpath"], settings["CGO_ENABLED"])
	}
	// Go records the commit only when the module root holds a .git
	// directory: a clone, as in CI, but not a linked work tree (.git file).
	if fi, err := os.Stat(filepath.Join(repoRoot(t), ".git")); err == nil && fi.IsDir() {
		if settings["vcs.revision"] != commit {
			t.Errorf("%s: vcs.revision %q, want %s (make release builds with -buildvcs=auto)", what, settings["vcs.revision"], commit)
		}
	} else if settings["vcs.revision"] != "" && settings["vcs.revision"] != commit {
		t.Errorf("%s: vcs.revision %q, want %s", what, settings["vcs.revision"], commit)
	}
	// With -trimpath the build info leaves -ldflags out; the stamped
	// string is in the binary's data (running it checks the rest).
	if version != "" && !bytes.Contains(bin, []byte(version)) {
		t.Errorf("%s is not stamped with %s", what, version)
	}
	if root, err := filepath.Abs(".."); err == nil && bytes.Contains(bin, []byte(root+"/")) {
		t.Errorf("%s contains the build directory %s: not built with -trimpath", what, root)
	}
}

// runInImage runs `imzagate version` in the image: with podman run where the
// machine allows it (it honours ENTRYPOINT), else with buildah's chroot
// isolation, which needs no namespaces. Neither working is logged, not a
// failure: it says something about the machine, not the image.
func runInImage(t *testing.T, bah func(...string) ([]byte, error), store []string, image string) (out, how string) {
	t.Helper()
	if podman, err := exec.LookPath("podman"); err == nil {
		cmd := exec.Command(podman, append(slices.Clone(store), "run", "--rm", "--network", "none", image, "version")...)
		b, err := cmd.CombinedOutput()
		if err == nil {
			return string(b), "podman run"
		}
		t.Logf("podman run is not possible on this machine (%v: %s); using buildah's chroot isolation", err, strings.TrimSpace(string(b)))
	}
	ctr, err := bah("from", "--quiet", image)
	if err != nil {
		t.Logf("buildah from %s: %v; imzagate version not run inside the image", image, err)
		return "", ""
	}
	b, err := bah("run", "--isolation", "chroot", strings.TrimSpace(string(ctr)), "--", "/imzagate", "version")
	if err != nil {
		t.Logf("buildah run --isolation chroot is not possible on this machine (%v); imzagate version not run inside the image", err)
		return "", ""
	}
	return string(b), "buildah run --isolation chroot"
}

// TestReleaseBinariesAndChecksums runs `make release` for the host's
// platform only (cross-compiling arm64 as well would double the test's
// build time for the same recipe) and checks every binary, the stamp and
// SHA256SUMS.
func TestReleaseBinariesAndChecksums(t *testing.T) {
	sha256sum := needTool(t, "sha256sum")
	root := repoRoot(t)
	dist := t.TempDir()
	const version = "v0.0.0-releasetest.1"
	arch := runtime.GOARCH
	start := time.Now()
	runMake(t, root, "release", "DIST="+dist, "PLATFORMS=linux/"+arch, "VERSION="+version)
	t.Logf("make release (linux/%s): %s", arch, time.Since(start).Round(time.Millisecond))

	bins := []string{"imzabench-linux-" + arch, "imzagate-linux-" + arch, "smscsim-linux-" + arch}
	entries, err := os.ReadDir(dist)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	want := append([]string{"SHA256SUMS"}, bins...) // os.ReadDir's order: upper case first
	if !slices.Equal(got, want) {
		t.Fatalf("dist holds %q, want %q", got, want)
	}

	// SHA256SUMS lists every binary once, in sha256sum's format, and
	// sha256sum -c agrees.
	sums, err := os.ReadFile(filepath.Join(dist, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(`^([0-9a-f]{64})  (\S+)$`)
	var listed []string
	sc := bufio.NewScanner(bytes.NewReader(sums))
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			t.Fatalf("SHA256SUMS line %q is not in sha256sum's format", sc.Text())
		}
		data, err := os.ReadFile(filepath.Join(dist, m[2]))
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != m[1] {
			t.Errorf("SHA256SUMS: %s does not match %s", m[1], m[2])
		}
		listed = append(listed, m[2])
	}
	slices.Sort(listed)
	if !slices.Equal(listed, bins) {
		t.Errorf("SHA256SUMS lists %q, want %q", listed, bins)
	}
	check := exec.Command(sha256sum, "-c", "SHA256SUMS")
	check.Dir = dist
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("sha256sum -c SHA256SUMS: %v\n%s", err, out)
	}

	commit, date := commitStamp(t, root)
	for _, b := range bins {
		data, err := os.ReadFile(filepath.Join(dist, b))
		if err != nil {
			t.Fatal(err)
		}
		stamped := ""
		if strings.HasPrefix(b, "imzagate-") {
			stamped = version
		}
		checkStaticBinary(t, b, data, commit, stamped)
	}
	out, err := exec.Command(filepath.Join(dist, "imzagate-linux-"+arch), "version").Output()
	if err != nil {
		t.Fatalf("imzagate version: %v", err)
	}
	lines := strings.Split(string(out), "\n")
	if len(lines) < 3 || lines[0] != "imzagate "+version || lines[1] != "  commit  "+commit || lines[2] != "  date    "+date {
		t.Errorf("imzagate version printed:\n%s\nwant version %s, commit %s, date %s", out, version, commit, date)
	}
}

// TestMakeRunStopsCleanlyOnCtrlC types Ctrl-C into `make run` on a real
// terminal (script(1) gives it a pseudo-terminal): the demo shuts down, and
// make exits 0 without an "Interrupt" or error line.
func TestMakeRunStopsCleanlyOnCtrlC(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the demo")
	}
	script := needTool(t, "script")
	needTool(t, "make")
	bin := t.TempDir()
	// The demo on free ports, admin listener off; BIN keeps the build out
	// of the work tree.
	cmdline := "make --no-print-directory run BIN=" + bin + " RUNARGS='--http 127.0.0.1:0 --admin off --sims 5'"
	cmd := exec.Command(script, "-qec", cmdline, "/dev/null")
	cmd.Dir = repoRoot(t)
	// The build flags of make image, so this build reuses its cache.
	cmd.Env = append(makeEnv(), "SHELL=/bin/sh", "CGO_ENABLED=0", "GOFLAGS=-trimpath")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); pw.Close() }()
	var transcript bytes.Buffer
	running, copied := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(pr)
		signalled := false
		for sc.Scan() {
			transcript.WriteString(sc.Text() + "\n")
			if !signalled && strings.Contains(sc.Text(), "Press Ctrl-C to stop.") {
				signalled = true
				close(running)
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case <-running:
	case err := <-done:
		t.Fatalf("make run ended before the demo was up: %v", err)
	case <-time.After(5 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatal("the demo did not come up within 5 minutes")
	}
	if _, err := stdin.Write([]byte{0x03}); err != nil { // Ctrl-C on the terminal
		t.Fatal(err)
	}
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("make run still running 30 s after Ctrl-C")
	}
	<-copied // the whole transcript, once the pipe is closed
	out := transcript.String()
	if err != nil {
		t.Errorf("make run after Ctrl-C: %v (want exit status 0)\n%s", err, out)
	}
	if !strings.Contains(out, "building imzagate") {
		t.Errorf("make run did not announce the build:\n%s", out)
	}
	if strings.Contains(out, "Interrupt") || strings.Contains(out, "make: ***") {
		t.Errorf("make run printed an error line on Ctrl-C:\n%s", out)
	}
}
