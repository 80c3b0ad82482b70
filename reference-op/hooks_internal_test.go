package refop

import (
	"reflect"
	"testing"
)

// changedSeams names the fields of h that differ from the strict hooks:
// a func seam by its code (a bend wraps or replaces it), a rule switch
// or a list by its length, a pointer by identity, data by value.
func changedSeams(h *hooks) []string {
	strict := reflect.ValueOf(strictHooks()).Elem()
	got := reflect.ValueOf(h).Elem()
	var changed []string
	for i := range got.NumField() {
		a, b := strict.Field(i), got.Field(i)
		var same bool
		switch a.Kind() {
		case reflect.Func:
			same = a.IsNil() == b.IsNil() && (a.IsNil() || a.Pointer() == b.Pointer())
		case reflect.Map, reflect.Slice:
			same = a.Len() == b.Len()
		case reflect.Pointer:
			same = a.Pointer() == b.Pointer()
		case reflect.Int:
			same = a.Int() == b.Int()
		case reflect.Bool:
			same = a.Bool() == b.Bool()
		default:
			panic("changedSeams: no comparison for seam " + got.Type().Field(i).Name)
		}
		if !same {
			changed = append(changed, got.Type().Field(i).Name)
		}
	}
	return changed
}

// TestEveryEntryBendsASeam: each fault and allowance lives in its
// catalogue entry, whose bend changes at least one seam; without any the
// OP has the strict hooks.
func TestEveryEntryBendsASeam(t *testing.T) {
	type entry struct {
		kind, name string
		bend       func(*hooks)
	}
	var entries []entry
	for _, f := range Faults() {
		entries = append(entries, entry{"fault", f.Name, f.bend})
	}
	for _, a := range Allowances() {
		entries = append(entries, entry{"allowance", a.Name, a.bend})
	}
	for _, e := range entries {
		if e.bend == nil {
			t.Errorf("%s %s has no bend", e.kind, e.name)
			continue
		}
		h := strictHooks()
		e.bend(h)
		if len(changedSeams(h)) == 0 {
			t.Errorf("%s %s: its bend changes no seam", e.kind, e.name)
		}
	}
	if changed := changedSeams(newHooks(faultSet{}, allowanceSet{})); len(changed) != 0 {
		t.Errorf("an OP without faults or allowances bends %v", changed)
	}
}

// TestRuleVerdicts: a rule's strict verdict stands unless bent; a waiver
// lets the request through, an answer replaces the refusal, and a bend
// never refuses what the strict rule lets through.
func TestRuleVerdicts(t *testing.T) {
	strictErr, answerErr := testError("strict"), testError("answer")
	tests := []struct {
		name         string
		bend         func(*hooks)
		strict, want error
		enforced     bool // the rule's block of checks still runs
	}{
		{"unbent refuses", nil, strictErr, strictErr, true},
		{"unbent passes", nil, nil, nil, true},
		{"waived", waive(ruleUserCodeRequired), strictErr, nil, false},
		{"answered", answer(ruleUserCodeRequired, answerErr), strictErr, answerErr, false},
		{"answer keeps a pass", answer(ruleUserCodeRequired, answerErr), nil, nil, false},
		{"waiver then answer", bends(waive(ruleUserCodeRequired), answer(ruleUserCodeRequired, answerErr)), strictErr, nil, false},
		{"other rule bent", waive(ruleUserCodeMatches), strictErr, strictErr, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := strictHooks()
			if tt.bend != nil {
				tt.bend(h)
			}
			if got := h.refusal(ruleUserCodeRequired, tt.strict); got != tt.want {
				t.Errorf("refusal = %v, want %v", got, tt.want)
			}
			if got := h.enforced(ruleUserCodeRequired); got != tt.enforced {
				t.Errorf("enforced = %v, want %v", got, tt.enforced)
			}
		})
	}
}

type testError string

func (e testError) Error() string { return string(e) }
