package seeds

import "testing"

// The tables as the course reports printed them.
func TestCourse(t *testing.T) {
	rows, err := Course()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 11 {
		t.Fatalf("%d rows", len(rows))
	}
	a := rows[3]
	if a.Report != "A" || a.SpawnRate != 100 || a.Model != "select" || a.Requests != 26316 || a.RPSLow != 946.8 || a.AvgMs != 77 {
		t.Errorf("report A's select: %+v", a)
	}
	b := rows[5]
	if b.Report != "B" || b.SpawnRate != 1000 || b.Model != "process" || b.RPSHigh != 67.83 || b.AvgMs != 1656 {
		t.Errorf("report B's multi process: %+v", b)
	}
	if c := rows[9]; c.Report != "C" || c.RPSLow != 200 || c.RPSHigh != 300 || c.Requests != 0 {
		t.Errorf("report C's multi process: %+v", c)
	}
}
