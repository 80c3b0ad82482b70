package deploy

import (
	"context"
	"crypto/rand"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/ciba-check/ciba-check/internal/cli"
	"github.com/ciba-check/ciba-check/internal/pki"
	"github.com/ciba-check/ciba-check/internal/target"
)

// secretCommand is the documented way to turn init's folder into the
// Secret the load Job mounts.
var secretCommand = regexp.MustCompile(`kubectl create secret generic (\S+) --from-file=(\S+)/`)

// TestJobMountsWhatInitWrites runs `ciba-check init` as the docs say,
// builds the Secret the documented kubectl command would build from its
// folder (kubectl --from-file=DIR/ takes the folder's regular files, by
// base name, and ignores subfolders), mounts it where the load Job does,
// and checks that target.yaml is where --target says and that every file
// it names is in the mounted set.
func TestJobMountsWhatInitWrites(t *testing.T) {
	raw, err := os.ReadFile("load-job.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := secretCommand.FindStringSubmatch(string(raw))
	if m == nil {
		t.Fatal("load-job.yaml does not document the kubectl command that creates its Secret")
	}
	secretName, initDir := m[1], m[2]
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), m[0]) {
		t.Errorf("README.md does not give the Job's Secret command %q", m[0])
	}
	if !strings.Contains(string(readme), "ciba-check init --dir "+initDir+" ") {
		t.Errorf("README.md's init step does not write into %s/, the folder the Secret is made from", initDir)
	}

	var job batchv1.Job
	decodeStrict(t, "load-job.yaml", &job)
	pod := job.Spec.Template.Spec
	vi := slices.IndexFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Secret != nil })
	if vi < 0 || pod.Volumes[vi].Secret.SecretName != secretName {
		t.Fatalf("load job mounts no Secret named %s", secretName)
	}
	if it := pod.Volumes[vi].Secret.Items; len(it) > 0 {
		t.Fatalf("load job mounts only some keys of the Secret (%v): it must mount all init writes", it)
	}
	c := pod.Containers[0]
	mi := slices.IndexFunc(c.VolumeMounts, func(vm corev1.VolumeMount) bool { return vm.Name == pod.Volumes[vi].Name })
	if mi < 0 {
		t.Fatalf("the container does not mount volume %s", pod.Volumes[vi].Name)
	}
	mount := c.VolumeMounts[mi].MountPath

	// init, as a user would run it, with a CA bundle for the OP.
	work := t.TempDir()
	cert, err := pki.SelfSignedClient(rand.Reader, time.Now(), "op ca")
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(work, "op-ca-from-elsewhere.pem")
	if err := pki.WriteCertPEM(caFile, cert.Leaf); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(work, initDir)
	s, _, _, errOut := cli.TestStreams()
	if code := cli.Run(context.Background(), []string{"init", "--dir", dir, "--ca", caFile}, &cli.Factory{IO: s}); code != 0 {
		t.Fatalf("init exited %d: %s", code, errOut)
	}

	// The Secret kubectl would create: regular files, by base name.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	mounted := map[string]bool{}
	for _, e := range entries {
		if e.IsDir() {
			t.Errorf("init wrote a subfolder %s/: kubectl create secret --from-file=%s/ leaves it out", e.Name(), initDir)
			continue
		}
		mounted[path.Join(mount, e.Name())] = true
	}

	tgtFile := ""
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--target="); ok {
			tgtFile = v
		}
	}
	if !mounted[tgtFile] {
		t.Fatalf("load job --target=%s is not in the mounted Secret (%v)", tgtFile, mounted)
	}
	data, err := os.ReadFile(filepath.Join(dir, path.Base(tgtFile)))
	if err != nil {
		t.Fatal(err)
	}
	tgt, err := target.ParseWithEnv(data, "target.yaml", path.Dir(tgtFile), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	files := tgt.Files()
	if tgt.CA == "" || len(files) < 5 {
		t.Fatalf("target.yaml names %v (ca %q): init wrote less than expected", files, tgt.CA)
	}
	for _, f := range files {
		if !mounted[f] {
			t.Errorf("target.yaml names %s, which is not in the Secret mounted at %s", f, mount)
		}
	}
}
