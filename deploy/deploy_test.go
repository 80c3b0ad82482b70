package deploy

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// strictDecode decodes a manifest as the API server does with
// fieldValidation=Strict: unknown and duplicate fields are errors, and so
// is a field name in the wrong case. yaml.UnmarshalStrict alone goes through
// encoding/json, which matches names case-insensitively and so accepts
// "completionmode"; the second pass, with sigs.k8s.io/json (the API
// server's decoder), does not.
func strictDecode(b []byte, into any) error {
	if err := yaml.UnmarshalStrict(b, into); err != nil {
		return err
	}
	j, err := yaml.YAMLToJSONStrict(b)
	if err != nil {
		return err
	}
	strictErrs, err := kjson.UnmarshalStrict(j, into, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strictErrs...)
}

func decodeStrict(t *testing.T, path string, into any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := strictDecode(b, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func flagValue(args []string, name string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

func TestManifestsDecodeStrictly(t *testing.T) {
	var pvc corev1.PersistentVolumeClaim
	decodeStrict(t, "results-pvc.yaml", &pvc)
	var load, merge batchv1.Job
	decodeStrict(t, "load-job.yaml", &load)
	decodeStrict(t, "merge-job.yaml", &merge)

	if pvc.Kind != "PersistentVolumeClaim" || !slices.Contains(pvc.Spec.AccessModes, corev1.ReadWriteMany) {
		t.Fatalf("results claim %s: want a ReadWriteMany PersistentVolumeClaim (shards run on any node)", pvc.Name)
	}
	for _, j := range []*batchv1.Job{&load, &merge} {
		if j.APIVersion != "batch/v1" || j.Kind != "Job" {
			t.Fatalf("%s: %s %s, want batch/v1 Job", j.Name, j.APIVersion, j.Kind)
		}
		if j.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
			t.Fatalf("%s: restartPolicy %q: a restarted shard would run late and alone", j.Name, j.Spec.Template.Spec.RestartPolicy)
		}
		vols := j.Spec.Template.Spec.Volumes
		i := slices.IndexFunc(vols, func(v corev1.Volume) bool { return v.PersistentVolumeClaim != nil })
		if i < 0 || vols[i].PersistentVolumeClaim.ClaimName != pvc.Name {
			t.Fatalf("%s: does not mount the results claim %s", j.Name, pvc.Name)
		}
	}

	// The fleet: an Indexed Job whose pods all run at once, one shard each.
	s := load.Spec
	if s.CompletionMode == nil || *s.CompletionMode != batchv1.IndexedCompletion {
		t.Fatal("load job: completionMode must be Indexed (JOB_COMPLETION_INDEX picks the shard)")
	}
	if s.Completions == nil || s.Parallelism == nil || *s.Completions != *s.Parallelism {
		t.Fatal("load job: completions and parallelism must be equal so every shard runs at the same time")
	}
	n := int(*s.Completions)
	args := load.Spec.Template.Spec.Containers[0].Args
	if args[0] != "load" || args[1] != "poll" {
		t.Fatalf("load job args %v", args)
	}
	if got := flagValue(args, "shard"); got != fmt.Sprintf("/%d", n) {
		t.Fatalf("load job --shard=%q, want /%d (index from JOB_COMPLETION_INDEX)", got, n)
	}
	if flagValue(args, "start-at") == "" {
		t.Fatal("load job: --start-at is missing; shards would start apart")
	}
	out := flagValue(args, "output")
	if !strings.Contains(out, "$(JOB_COMPLETION_INDEX)") {
		t.Fatalf("load job --output=%q: each shard needs its own file", out)
	}

	// The merge reads exactly the files the shards write.
	margs := merge.Spec.Template.Spec.Containers[0].Args
	if margs[0] != "load" || margs[1] != "merge" {
		t.Fatalf("merge job args %v", margs)
	}
	var files []string
	for _, a := range margs[2:] {
		if !strings.HasPrefix(a, "--") {
			files = append(files, a)
		}
	}
	var want []string
	for i := range n {
		want = append(want, strings.ReplaceAll(out, "$(JOB_COMPLETION_INDEX)", fmt.Sprint(i)))
	}
	if !slices.Equal(files, want) {
		t.Fatalf("merge job reads %v, the shards write %v", files, want)
	}
	if !slices.ContainsFunc(margs, func(a string) bool { return strings.HasPrefix(a, "--threshold=") }) {
		t.Fatal("merge job applies no threshold")
	}
}

// The decoder must refuse what the API server would ignore or reject: a
// misspelt field.
func TestStrictDecodingRefusesTypos(t *testing.T) {
	b, err := os.ReadFile("load-job.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, typo := range []struct{ from, to string }{
		{"completionMode:", "completionmode:"},
		{"parallelism:", "paralelism:"},
		{"restartPolicy:", "restartpolicy:"},
		{"claimName:", "claim:"},
		{"backoffLimit: 0", "backoffLimit: none"},
	} {
		bad := strings.Replace(string(b), typo.from, typo.to, 1)
		var j batchv1.Job
		if err := strictDecode([]byte(bad), &j); err == nil {
			t.Fatalf("%s -> %s was accepted", typo.from, typo.to)
		}
	}
}
