//! Fitting 16:9 tiles into a box: pure arithmetic, unit-tested.

/// Tiles are 16:9 like the cameras they show.
pub const ASPECT: f64 = 16.0 / 9.0;
/// Space between tiles and around the grid, in CSS pixels.
pub const GAP: f64 = 8.0;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GridFit {
    pub columns: u32,
    pub rows: u32,
    /// Tile width in CSS pixels; the height follows from [`ASPECT`].
    pub tile_width: f64,
}

/// The column count that makes `count` tiles as large as possible in `width` x `height`.
pub fn fit(count: usize, width: f64, height: f64) -> GridFit {
    let count = count.max(1) as u32;
    let mut best = GridFit {
        columns: 1,
        rows: count,
        tile_width: 0.0,
    };
    for columns in 1..=count {
        let rows = count.div_ceil(columns);
        let room_width = (width - GAP * f64::from(columns + 1)) / f64::from(columns);
        let room_height = (height - GAP * f64::from(rows + 1)) / f64::from(rows);
        let tile_width = room_width.min(room_height * ASPECT).max(0.0).floor();
        if tile_width > best.tile_width {
            best = GridFit {
                columns,
                rows,
                tile_width,
            };
        }
    }
    best
}

/// The share of the height the strip of other tiles may take while one tile is focused.
pub const STRIP_SHARE: f64 = 0.2;

/// One tile focused: it as large as the box allows over a strip of the `others`, in one row.
/// The strip's tiles are at most a fifth of the height tall, so the focused one keeps most of
/// the screen however many there are.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FocusFit {
    /// Widths in CSS pixels; heights follow from [`ASPECT`].
    pub focus_width: f64,
    pub strip_width: f64,
}

pub fn focus_fit(others: usize, width: f64, height: f64) -> FocusFit {
    let strip_width = if others == 0 {
        0.0
    } else {
        let count = others as f64;
        ((width - GAP * (count + 1.0)) / count)
            .min(height * STRIP_SHARE * ASPECT)
            // Half the focused tile's width at most (a quarter of its area), on a narrow
            // screen too.
            .min((width - 2.0 * GAP) / 2.0)
            .max(0.0)
            .floor()
    };
    let strip_height = if others == 0 {
        0.0
    } else {
        strip_width / ASPECT + GAP
    };
    let focus_width = (width - 2.0 * GAP)
        .min((height - strip_height - 2.0 * GAP) * ASPECT)
        .max(0.0)
        .floor();
    FocusFit {
        focus_width,
        strip_width,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_focused_tile_takes_the_box_over_a_strip_of_the_others() {
        for others in [0, 1, 5, 15] {
            for (width, height) in [(1280.0, 680.0), (390.0, 700.0), (1920.0, 1040.0)] {
                let fit = focus_fit(others, width, height);
                let focus_height = fit.focus_width / ASPECT;
                let strip_height = fit.strip_width / ASPECT;
                let used_height =
                    focus_height + if others > 0 { strip_height + GAP } else { 0.0 } + 2.0 * GAP;
                assert!(used_height <= height + 0.5, "{others} in {width}x{height}");
                let strip_used = fit.strip_width * others as f64 + GAP * (others as f64 + 1.0);
                assert!(strip_used <= width + 0.5, "{others} in {width}x{height}");
                assert!(fit.focus_width + 2.0 * GAP <= width + 0.5);
                if others > 0 {
                    assert!(
                        fit.focus_width >= 2.0 * fit.strip_width,
                        "at least 4x the area: {fit:?} for {others} in {width}x{height}"
                    );
                }
            }
        }
        assert_eq!(focus_fit(0, 1280.0, 680.0).strip_width, 0.0);
        // Five others on a laptop: a strip of 241-pixel tiles under a 925-pixel one.
        assert_eq!(
            focus_fit(5, 1280.0, 680.0),
            FocusFit {
                focus_width: 925.0,
                strip_width: 241.0
            }
        );
    }

    #[test]
    fn one_tile_fills_the_box() {
        let grid = fit(1, 1280.0, 720.0);
        assert_eq!((grid.columns, grid.rows), (1, 1));
        assert_eq!(grid.tile_width, ((720.0 - 2.0 * GAP) * ASPECT).floor());
    }

    #[test]
    fn four_tiles_in_a_wide_box_are_two_by_two() {
        let grid = fit(4, 1280.0, 720.0);
        assert_eq!((grid.columns, grid.rows), (2, 2));
    }

    #[test]
    fn two_tiles_sit_side_by_side_when_wide_and_stacked_when_tall() {
        assert_eq!(fit(2, 1600.0, 500.0).columns, 2);
        assert_eq!(fit(2, 400.0, 900.0).columns, 1);
    }

    #[test]
    fn tiles_never_overflow_the_box() {
        for count in 1..=12 {
            for (width, height) in [(1280.0, 720.0), (390.0, 844.0), (1920.0, 400.0)] {
                let grid = fit(count, width, height);
                let tile_height = grid.tile_width / ASPECT;
                let used_width =
                    grid.tile_width * f64::from(grid.columns) + GAP * f64::from(grid.columns + 1);
                let used_height =
                    tile_height * f64::from(grid.rows) + GAP * f64::from(grid.rows + 1);
                assert!(used_width <= width + 0.5, "{count} in {width}x{height}");
                assert!(used_height <= height + 0.5, "{count} in {width}x{height}");
                assert!(grid.columns * grid.rows >= count as u32);
            }
        }
    }

    #[test]
    fn a_tiny_box_gives_zero_not_negative() {
        assert_eq!(fit(3, 0.0, 0.0).tile_width, 0.0);
    }
}
