//! Where each tile goes: pure arithmetic, unit-tested.
//!
//! Each tile has its video's own shape (a phone held upright is a tall tile, not a wide tile
//! with black bars), and all tiles of the wall are one height, in rows, as large as the box
//! allows: the row count that makes them tallest wins. Tiles keep their order, so that none
//! jumps around when another comes or goes. One tile may be focused: it is then as large as
//! the box allows over a strip of the others.

/// The shape of a tile whose video's size is not known yet: most cameras' shape.
pub const ASPECT: f64 = 16.0 / 9.0;
/// Space between tiles and around them, in CSS pixels.
pub const GAP: f64 = 8.0;
/// The share of the height the strip of other tiles may take while one tile is focused.
pub const STRIP_SHARE: f64 = 0.2;

/// A tile's box in CSS pixels, from the wall's top left corner.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Placed {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

impl Placed {
    /// As an inline style.
    pub fn style(&self) -> String {
        format!(
            "left:{}px;top:{}px;width:{}px;height:{}px",
            self.x, self.y, self.width, self.height
        )
    }
}

/// The tiles of `aspects` (width / height of each, in order) in `width` x `height`.
pub fn arrange(aspects: &[f64], width: f64, height: f64) -> Vec<Placed> {
    let aspects: Vec<f64> = aspects.iter().map(|aspect| sane(*aspect)).collect();
    let count = aspects.len();
    if count == 0 {
        return Vec::new();
    }
    // The sum of the first `i` shapes, so that a row's is a difference.
    let sums: Vec<f64> = std::iter::once(0.0)
        .chain(aspects.iter().scan(0.0, |sum, aspect| {
            *sum += aspect;
            Some(*sum)
        }))
        .collect();
    let row_tall =
        |start: usize, end: usize| row_height(end - start, sums[end] - sums[start], width);
    // best[j][i]: the tallest tiles that the first `i` tiles make in `j` rows, with where the
    // last row starts. Ties go to the fuller first rows, as a grid reads. O(n³), n the tiles.
    let mut best: Vec<Vec<(f64, usize)>> = vec![vec![(f64::NEG_INFINITY, 0); count + 1]; count + 1];
    best[0][0] = (f64::INFINITY, 0);
    for rows in 1..=count {
        for end in rows..=count {
            for start in (rows - 1..end).rev() {
                let before = best[rows - 1][start].0;
                if before == f64::NEG_INFINITY {
                    continue;
                }
                let tall = before.min(row_tall(start, end));
                if tall > best[rows][end].0 {
                    best[rows][end] = (tall, start);
                }
            }
        }
    }
    let (rows, tile_height) = (1..=count)
        .map(|rows| {
            let by_height = (height - GAP * (rows as f64 + 1.0)) / rows as f64;
            (rows, best[rows][count].0.min(by_height).max(0.0).floor())
        })
        .fold((1, f64::NEG_INFINITY), |kept, tried| {
            if tried.1 > kept.1 {
                tried
            } else {
                kept
            }
        });
    // The rows, from the last one back.
    let mut bounds = Vec::with_capacity(rows);
    let mut end = count;
    for row in (1..=rows).rev() {
        let start = best[row][end].1;
        bounds.push(start..end);
        end = start;
    }
    bounds.reverse();
    let used_height = tile_height * rows as f64 + GAP * (rows as f64 - 1.0);
    let mut y = ((height - used_height) / 2.0).max(GAP).floor();
    let mut placed = Vec::with_capacity(count);
    for row in bounds {
        place_row(&aspects[row], tile_height, width, y, &mut placed);
        y += tile_height + GAP;
    }
    placed
}

/// The tiles of `aspects` with the one at `focused` large, the others in a strip under it:
/// one row of tiles at most a fifth of the height tall, none more than a quarter of the
/// focused tile's area.
pub fn arrange_focused(aspects: &[f64], focused: usize, width: f64, height: f64) -> Vec<Placed> {
    let aspects: Vec<f64> = aspects.iter().map(|aspect| sane(*aspect)).collect();
    let Some(&focus_aspect) = aspects.get(focused) else {
        return arrange(&aspects, width, height);
    };
    let others: Vec<f64> = aspects
        .iter()
        .enumerate()
        .filter(|(index, _)| *index != focused)
        .map(|(_, aspect)| *aspect)
        .collect();
    let widest = others.iter().copied().fold(0.0, f64::max);
    let focus_height_above = |strip: f64| {
        let strip_room = if others.is_empty() { 0.0 } else { strip + GAP };
        ((height - strip_room - 2.0 * GAP).min((width - 2.0 * GAP) / focus_aspect)).max(0.0)
    };
    let mut strip = if others.is_empty() {
        0.0
    } else {
        (height * STRIP_SHARE)
            .min(row_height(others.len(), others.iter().sum(), width))
            .max(0.0)
    };
    // A quarter of the focused tile's area at most: its height is half, for tiles of one
    // shape. Capping the strip only makes room for the focused tile, so once is enough.
    let cap = focus_height_above(strip) / 2.0 * (focus_aspect / widest.max(f64::EPSILON)).sqrt();
    strip = strip.min(cap).floor();
    let focus_height = focus_height_above(strip).floor();
    let used = focus_height + if others.is_empty() { 0.0 } else { GAP + strip };
    let top = ((height - used) / 2.0).max(GAP).floor();
    let mut big = Vec::with_capacity(1);
    place_row(&[focus_aspect], focus_height, width, top, &mut big);
    let mut strip_tiles = Vec::with_capacity(others.len());
    place_row(
        &others,
        strip,
        width,
        top + focus_height + GAP,
        &mut strip_tiles,
    );
    let mut strip_tiles = strip_tiles.into_iter();
    (0..aspects.len())
        .map(|index| {
            if index == focused {
                big[0]
            } else {
                strip_tiles
                    .next()
                    .expect("one strip tile for each tile but the focused one")
            }
        })
        .collect()
}

/// How tall a row of `count` tiles whose shapes add up to `total` can be to fill `width`.
fn row_height(count: usize, total: f64, width: f64) -> f64 {
    (width - GAP * (count as f64 + 1.0)) / total
}

/// Tiles `height` tall, side by side and centred in `width`, at `y`. In a box too small for
/// them (all 0 wide), they stay inside it, on top of each other.
fn place_row(aspects: &[f64], height: f64, width: f64, y: f64, placed: &mut Vec<Placed>) {
    let widths: Vec<f64> = aspects
        .iter()
        .map(|aspect| (aspect * height).floor())
        .collect();
    let used: f64 = widths.iter().sum::<f64>() + GAP * (widths.len() as f64 - 1.0);
    let mut x = ((width - used) / 2.0).max(GAP).floor();
    for tile_width in widths {
        placed.push(Placed {
            x: x.min((width - GAP - tile_width).max(0.0)),
            y,
            width: tile_width,
            height,
        });
        x += tile_width + GAP;
    }
}

/// A shape to lay out: a video that reports no size, or a nonsensical one, is laid out as
/// most cameras are, and extremes are kept within a tall phone and a panorama.
fn sane(aspect: f64) -> f64 {
    if aspect.is_finite() && aspect > 0.0 {
        aspect.clamp(0.25, 4.0)
    } else {
        ASPECT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WIDE: f64 = ASPECT;
    const TALL: f64 = 9.0 / 16.0;

    /// No tile overlaps another or leaves the box (with its margin; a box too small for any
    /// tile holds empty ones).
    fn assert_fits(placed: &[Placed], width: f64, height: f64, what: &str) {
        for (i, a) in placed.iter().enumerate() {
            if a.width == 0.0 || a.height == 0.0 {
                assert!(
                    a.x <= width.max(GAP) && a.y <= height.max(2.0 * GAP),
                    "{what}: {a:?}"
                );
                continue;
            }
            assert!(a.x >= GAP - 0.01 && a.y >= GAP - 0.01, "{what}: {a:?}");
            assert!(a.x + a.width <= width - GAP + 0.01, "{what}: {a:?}");
            assert!(a.y + a.height <= height - GAP + 0.01, "{what}: {a:?}");
            for b in &placed[i + 1..] {
                if b.width == 0.0 || b.height == 0.0 {
                    continue;
                }
                let apart = a.x + a.width + GAP <= b.x + 0.01
                    || b.x + b.width + GAP <= a.x + 0.01
                    || a.y + a.height + GAP <= b.y + 0.01
                    || b.y + b.height + GAP <= a.y + 0.01;
                assert!(apart, "{what}: {a:?} and {b:?} overlap");
            }
        }
    }

    #[test]
    fn one_tile_fills_the_box_in_its_own_shape() {
        let [tile] = arrange(&[WIDE], 1280.0, 720.0)[..] else {
            panic!("one tile")
        };
        assert_eq!(tile.height, 720.0 - 2.0 * GAP);
        assert_eq!(tile.width, ((720.0 - 2.0 * GAP) * WIDE).floor());
        // A phone held upright is a tall tile, as tall as the box, centred.
        let [phone] = arrange(&[TALL], 1280.0, 720.0)[..] else {
            panic!("one tile")
        };
        assert_eq!(phone.height, 704.0);
        assert_eq!(phone.width, 396.0);
        assert_eq!(phone.x, ((1280.0 - 396.0) / 2.0_f64).floor());
    }

    #[test]
    fn wide_tiles_make_the_grid_they_always_made() {
        let rows = |count: usize, width: f64, height: f64| {
            let placed = arrange(&vec![WIDE; count], width, height);
            let mut tops: Vec<f64> = placed.iter().map(|tile| tile.y).collect();
            tops.dedup();
            tops.len()
        };
        assert_eq!(rows(4, 1280.0, 720.0), 2);
        assert_eq!(rows(2, 1600.0, 500.0), 1);
        assert_eq!(rows(2, 400.0, 900.0), 2);
        // Seven in three rows: three, three and one, the first rows full, as a grid reads.
        let placed = arrange(&[WIDE; 7], 1280.0, 720.0);
        let first_row = placed.iter().filter(|tile| tile.y == placed[0].y).count();
        assert_eq!(first_row, 3);
        assert_eq!(
            placed[6].y,
            placed.iter().map(|tile| tile.y).fold(0.0, f64::max)
        );
    }

    #[test]
    fn tiles_never_overlap_or_overflow_and_share_one_height() {
        let shapes = [
            WIDE,
            TALL,
            4.0 / 3.0,
            WIDE,
            TALL,
            WIDE,
            1.0,
            WIDE,
            WIDE,
            TALL,
            WIDE,
            WIDE,
        ];
        for count in 1..=shapes.len() {
            for (width, height) in [(1280.0, 720.0), (390.0, 844.0), (1920.0, 400.0)] {
                let placed = arrange(&shapes[..count], width, height);
                assert_eq!(placed.len(), count);
                assert_fits(
                    &placed,
                    width,
                    height,
                    &format!("{count} in {width}x{height}"),
                );
                assert!(placed.iter().all(|tile| tile.height == placed[0].height));
                for (tile, aspect) in placed.iter().zip(&shapes) {
                    assert!(
                        (tile.width - aspect * tile.height).abs() <= 1.0,
                        "its own shape"
                    );
                }
            }
        }
    }

    #[test]
    fn upright_phones_get_taller_tiles_than_a_wide_grid_would_give_them() {
        // Four phones held upright on a TV: one row of tall tiles, where a 2x2 grid of wide
        // tiles showed each 528 pixels tall between black bars.
        let placed = arrange(&[TALL; 4], 1920.0, 1080.0);
        assert!(placed.iter().all(|tile| tile.y == placed[0].y));
        assert_eq!(placed[0].height, 835.0);
    }

    #[test]
    fn a_focused_tile_takes_the_box_over_a_strip_of_the_others() {
        for others in [0, 1, 5, 15] {
            for (width, height) in [(1280.0, 680.0), (390.0, 700.0), (1920.0, 1040.0)] {
                let aspects = vec![WIDE; others + 1];
                let placed = arrange_focused(&aspects, others / 2, width, height);
                let what = format!("{others} others in {width}x{height}");
                assert_fits(&placed, width, height, &what);
                let area = |tile: &Placed| tile.width * tile.height;
                let focused = area(&placed[others / 2]);
                for (index, tile) in placed.iter().enumerate() {
                    if index != others / 2 {
                        assert!(focused >= 4.0 * area(tile) - 1.0, "{what}: {placed:?}");
                    }
                }
            }
        }
        // Five others on a laptop: a strip of 136-pixel-tall tiles under a 520-pixel one.
        let placed = arrange_focused(&[WIDE; 6], 2, 1280.0, 680.0);
        assert_eq!((placed[2].height, placed[0].height), (520.0, 136.0));
        // A focused phone held upright is tall, and the others still fit under it.
        let placed = arrange_focused(&[WIDE, TALL, WIDE], 1, 1280.0, 720.0);
        assert_fits(&placed, 1280.0, 720.0, "a focused phone");
        assert!(placed[1].height > placed[1].width);
        assert!(placed[1].height > 3.0 * placed[0].height);
    }

    #[test]
    fn nothing_to_place_and_nonsense_shapes_are_handled() {
        assert!(arrange(&[], 1280.0, 720.0).is_empty());
        let placed = arrange(&[f64::NAN, 0.0, 1e9], 1280.0, 720.0);
        assert_fits(&placed, 1280.0, 720.0, "odd shapes");
        assert_eq!(placed[0].width, (placed[0].height * ASPECT).floor());
        assert!(arrange(&[WIDE; 3], 0.0, 0.0)
            .iter()
            .all(|tile| tile.width == 0.0));
        for (width, height) in [(100.0, 60.0), (30.0, 400.0), (0.0, 0.0)] {
            assert_fits(
                &arrange(&[WIDE; 12], width, height),
                width,
                height,
                "a tiny box",
            );
            assert_fits(
                &arrange_focused(&[WIDE; 12], 3, width, height),
                width,
                height,
                "a tiny box, focused",
            );
        }
        // Many tiles are laid out at once.
        let placed = arrange(&[WIDE; 100], 3840.0, 2160.0);
        assert_fits(&placed, 3840.0, 2160.0, "a hundred tiles");
        assert_eq!(
            arrange_focused(&[WIDE], 5, 1280.0, 720.0),
            arrange(&[WIDE], 1280.0, 720.0)
        );
    }
}
