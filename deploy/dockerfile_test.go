package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
)

// dockerfile is the repository's Dockerfile split into its instructions
// (continuation lines joined, comments kept apart).
type dockerfile struct {
	comments     string
	instructions [][2]string // keyword (upper case), rest
}

func readDockerfile(t *testing.T) dockerfile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var d dockerfile
	var cur string
	for _, line := range strings.Split(string(raw), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			d.comments += trimmed + "\n"
			continue
		}
		if trimmed == "" && cur == "" {
			continue
		}
		cur += " " + strings.TrimSuffix(trimmed, `\`)
		if strings.HasSuffix(trimmed, `\`) {
			continue
		}
		kw, rest, _ := strings.Cut(strings.TrimSpace(cur), " ")
		d.instructions = append(d.instructions, [2]string{strings.ToUpper(kw), strings.TrimSpace(rest)})
		cur = ""
	}
	return d
}

// TestDockerfileMatchesDeploy: the Dockerfile is multi-stage, builds the
// command statically (CGO_ENABLED=0) with the Go go.mod asks for, ends on
// a distroless non-root base as the user the Jobs run as, and the image
// name it documents building is the one every Job runs. No docker build
// here: CI machines may not reach the base images' registries.
func TestDockerfileMatchesDeploy(t *testing.T) {
	d := readDockerfile(t)
	var froms, runs []string
	user, entry := "", ""
	for _, in := range d.instructions {
		switch in[0] {
		case "FROM":
			froms = append(froms, in[1])
		case "RUN":
			runs = append(runs, in[1])
		case "USER":
			user = in[1]
		case "ENTRYPOINT":
			entry = in[1]
		}
	}
	if len(froms) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a build stage and a run stage", len(froms))
	}
	mod, err := os.ReadFile(filepath.Join("..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(mod)
	if goVersion == nil || !strings.HasPrefix(froms[0], "golang:"+string(goVersion[1])) {
		t.Errorf("build stage FROM %s, want golang:%s (go.mod)", froms[0], goVersion[1])
	}
	final := froms[len(froms)-1]
	if !strings.HasPrefix(final, "gcr.io/distroless/static") || !strings.HasSuffix(final, ":nonroot") {
		t.Errorf("run stage FROM %s, want a distroless static :nonroot base", final)
	}
	build := ""
	for _, r := range runs {
		if strings.Contains(r, "go build") {
			build = r
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "./cmd/ciba-check", "-o "} {
		if !strings.Contains(build, want) {
			t.Errorf("build command %q lacks %q (a static binary of the command)", build, want)
		}
	}
	// `ciba-check version` in the image names its commit only when the
	// build stamps VCS information and the context holds .git.
	if !strings.Contains(build, "-buildvcs=true") {
		t.Errorf("build command %q lacks -buildvcs=true: the image's version would name no revision", build)
	}
	ignore, err := os.ReadFile(filepath.Join("..", ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(ignore), "\n") {
		if l := strings.TrimSuffix(strings.TrimSpace(line), "/"); l == ".git" || l == "/.git" {
			t.Errorf(".dockerignore drops .git: the build cannot stamp the revision")
		}
	}
	out := regexp.MustCompile(`-o (\S+)`).FindStringSubmatch(build)
	if out == nil || !strings.Contains(d.instructionsText("COPY"), out[1]) {
		t.Errorf("the run stage does not copy the built binary %v", out)
	}
	if !strings.Contains(entry, "ciba-check") {
		t.Errorf("ENTRYPOINT %s is not the binary (the Jobs' args are ciba-check's)", entry)
	}
	if user == "" || strings.HasPrefix(user, "0") || strings.HasPrefix(user, "root") {
		t.Errorf("USER %q: the image must run as non-root", user)
	}

	image := regexp.MustCompile(`docker build -t (\S+) \.`).FindStringSubmatch(d.comments)
	if image == nil {
		t.Fatal("the Dockerfile does not document its docker build -t IMAGE command")
	}
	uid := strings.Split(user, ":")[0]
	for _, f := range []string{"load-job.yaml", "merge-job.yaml"} {
		var j batchv1.Job
		decodeStrict(t, f, &j)
		pod := j.Spec.Template.Spec
		for _, c := range pod.Containers {
			if c.Image != image[1] {
				t.Errorf("%s: container %s runs image %s, the Dockerfile builds %s", f, c.Name, c.Image, image[1])
			}
		}
		sc := pod.SecurityContext
		if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || sc.FSGroup == nil {
			t.Errorf("%s: the pod must run as non-root with an fsGroup (the Secret and results volume)", f)
		} else if strconv.FormatInt(*sc.RunAsUser, 10) != uid {
			t.Errorf("%s: runAsUser %d, the image's USER is %s", f, *sc.RunAsUser, uid)
		}
	}
}

func (d dockerfile) instructionsText(kw string) string {
	var b strings.Builder
	for _, in := range d.instructions {
		if in[0] == kw {
			b.WriteString(in[1] + "\n")
		}
	}
	return b.String()
}
