package report

import (
	"fmt"
	"html"
	"image"
	"image/color"
	"image/png"
	"io"
	"strings"
)

// canvas is what the charts draw on: SVG for the HTML page, a raster for
// the PNGs, so both show the same picture.
type canvas interface {
	line(x1, y1, x2, y2 float64, c color.RGBA, width float64)
	rect(x, y, w, h float64, c color.RGBA)
	// text draws s with its baseline at y; anchor is 0 left, 1 middle, 2 right.
	text(x, y float64, s string, c color.RGBA, anchor int)
}

// svgCanvas collects SVG elements.
type svgCanvas struct {
	w, h int
	b    strings.Builder
}

func newSVG(w, h int) *svgCanvas {
	s := &svgCanvas{w: w, h: h}
	fmt.Fprintf(&s.b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&s.b, `<rect width="%d" height="%d" fill="#fff"/>`+"\n", w, h)
	return s
}

func hex(c color.RGBA) string { return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B) }

func (s *svgCanvas) line(x1, y1, x2, y2 float64, c color.RGBA, width float64) {
	fmt.Fprintf(&s.b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="%g"/>`+"\n", x1, y1, x2, y2, hex(c), width)
}

func (s *svgCanvas) rect(x, y, w, h float64, c color.RGBA) {
	fmt.Fprintf(&s.b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>`+"\n", x, y, w, h, hex(c))
}

func (s *svgCanvas) text(x, y float64, str string, c color.RGBA, anchor int) {
	a := [...]string{"start", "middle", "end"}[anchor]
	fmt.Fprintf(&s.b, `<text x="%.1f" y="%.1f" fill="%s" text-anchor="%s">%s</text>`+"\n", x, y, hex(c), a, html.EscapeString(str))
}

func (s *svgCanvas) String() string { return s.b.String() + "</svg>\n" }

// rasterCanvas draws into an RGBA image with the 5x7 font of font.go.
type rasterCanvas struct{ img *image.RGBA }

func newRaster(w, h int) *rasterCanvas {
	r := &rasterCanvas{img: image.NewRGBA(image.Rect(0, 0, w, h))}
	r.rect(0, 0, float64(w), float64(h), color.RGBA{255, 255, 255, 255})
	return r
}

func (r *rasterCanvas) rect(x, y, w, h float64, c color.RGBA) {
	x0, y0 := int(x+0.5), int(y+0.5)
	x1, y1 := int(x+w+0.5), int(y+h+0.5)
	for py := y0; py < y1; py++ {
		for px := x0; px < x1; px++ {
			r.set(px, py, c)
		}
	}
}

func (r *rasterCanvas) set(x, y int, c color.RGBA) {
	if image.Pt(x, y).In(r.img.Rect) {
		r.img.SetRGBA(x, y, c)
	}
}

// line steps along the longer axis, stamping a square of the width.
func (r *rasterCanvas) line(x1, y1, x2, y2 float64, c color.RGBA, width float64) {
	dx, dy := x2-x1, y2-y1
	n := int(max(abs(dx), abs(dy))) + 1
	half := max(width/2, 0.5)
	for i := 0; i <= n; i++ {
		t := float64(i) / float64(n)
		r.rect(x1+dx*t-half, y1+dy*t-half, 2*half, 2*half, c)
	}
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

// text draws with the 5x7 font on a 6 px pitch, about the size of the
// SVG's 12 px text; the font has no lower case, so text is upper-cased.
func (r *rasterCanvas) text(x, y float64, s string, c color.RGBA, anchor int) {
	const scale, pitch = 1, 6
	s = strings.ToUpper(s)
	w := float64(len([]rune(s))*pitch - 1)
	x -= w * float64(anchor) / 2
	top := int(y+0.5) - 7*scale
	for i, ch := range []rune(s) {
		g, ok := glyphs[ch]
		if !ok {
			g = glyphs['?']
		}
		left := int(x+0.5) + i*pitch*scale
		for row, bits := range g {
			for col := 0; col < 5; col++ {
				if bits[col] != '#' {
					continue
				}
				for sy := 0; sy < scale; sy++ {
					for sx := 0; sx < scale; sx++ {
						r.set(left+col*scale+sx, top+row*scale+sy, c)
					}
				}
			}
		}
	}
}

func (r *rasterCanvas) writePNG(w io.Writer) error { return png.Encode(w, r.img) }
