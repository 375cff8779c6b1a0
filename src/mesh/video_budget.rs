//! How much video each link sends, decided from what each receiver shows.
//!
//! A camera sends one encoding per link. Sending every receiver the full camera wastes the
//! sender's CPU and uplink on pixels a small tile throws away, and a room of twelve then asks
//! each member for eleven full encodes. So each receiver says how large it shows our video (in
//! device pixels, over the link's data channel, see [`super::peer_message`]), and each link's
//! encoding is scaled down to that size, with a share of one uplink budget in proportion to
//! the pixels it carries. The camera itself captures no more than the largest link needs.
//!
//! Pure: the mesh feeds it the capture's settings and the receivers' sizes, and applies the
//! result with `RTCRtpSender.setParameters` and `MediaStreamTrack.applyConstraints`.

/// The uplink budget when neither the server (`welcome.limits.uplinkKbps`) nor the page
/// (`&uplink=`) says otherwise, in kbit/s: what a phone on home Wi-Fi sends without trouble.
pub const DEFAULT_UPLINK_KBPS: u32 = 2_500;

/// Bits per pixel per frame that a link is given when the budget allows: enough for VP8 at
/// that size to look sharp on a wall, well above what it needs for a static scene.
const BITS_PER_PIXEL: f64 = 0.1;
/// The part of the budget that encoders are given: they overshoot their target for a while
/// after a scene change, and RTP and retransmissions come on top.
const HEADROOM: f64 = 0.9;
/// No link gets less: below this an encoder cannot keep even a small picture recognisable.
const MIN_LINK_BPS: f64 = 60_000.0;
/// A link whose share is this small sends fewer frames, so that each one stays readable.
const LOW_SHARE_BPS: f64 = 150_000.0;
const LOW_SHARE_FPS: f64 = 15.0;
/// The smallest view we size for: a tile not laid out yet still gets a picture.
const MIN_VIEW: ViewSize = ViewSize {
    width: 160,
    height: 90,
};
/// The capture sizes the camera is asked for, smallest first (16:9, as the tiles are).
const CAPTURE_LADDER: [ViewSize; 4] = [
    ViewSize {
        width: 320,
        height: 180,
    },
    ViewSize {
        width: 640,
        height: 360,
    },
    ViewSize {
        width: 960,
        height: 540,
    },
    ViewSize {
        width: 1280,
        height: 720,
    },
];

/// A size in device pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ViewSize {
    pub width: u32,
    pub height: u32,
}

impl ViewSize {
    fn pixels(self) -> f64 {
        f64::from(self.width) * f64::from(self.height)
    }

    fn at_least(self, other: ViewSize) -> ViewSize {
        ViewSize {
            width: self.width.max(other.width),
            height: self.height.max(other.height),
        }
    }
}

/// What the camera captures now (`MediaStreamTrack.getSettings()`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CaptureSettings {
    pub size: ViewSize,
    pub frame_rate: f64,
}

/// One link's `RTCRtpEncodingParameters`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Encoding {
    pub scale_resolution_down_by: f64,
    pub max_bitrate: u32,
    pub max_framerate: f64,
}

/// The size a receiver that never told us shows our video at: a base `@openlab/portals`
/// client, or one of ours whose first word is still on its way. It is assumed to show every
/// other member of the room in a grid on a 1280-pixel-wide screen; `others` counts them.
pub fn default_view(others: usize) -> ViewSize {
    let columns = (others.max(1) as f64).sqrt().ceil() as u32;
    let width = 1280 / columns;
    ViewSize {
        width,
        height: width * 9 / 16,
    }
}

/// The encodings of the links, in the order of `views` (each receiver's size, or `None` for
/// one that did not say: see [`default_view`]). Each link sends at most the pixels its
/// receiver shows, and the links' bitrates add up to at most `uplink_kbps`, less a headroom
/// for what encoders send over their target.
pub fn encodings(capture: CaptureSettings, views: &[ViewSize], uplink_kbps: u32) -> Vec<Encoding> {
    let budget = f64::from(uplink_kbps) * 1_000.0 * HEADROOM;
    let frame_rate = if capture.frame_rate > 0.0 {
        capture.frame_rate
    } else {
        30.0
    };
    let scaled: Vec<(f64, f64)> = views
        .iter()
        .map(|view| {
            let view = view.at_least(MIN_VIEW);
            // Tiles show the whole video (`object-fit: contain`): the side that meets the
            // tile's edge sets the scale, so that the picture lands on the tile's pixels one
            // to one (a portrait phone in a wide tile is sent as tall as the tile).
            let scale = (f64::from(capture.size.width) / f64::from(view.width))
                .max(f64::from(capture.size.height) / f64::from(view.height))
                .max(1.0);
            let sent = capture.size.pixels() / (scale * scale);
            let wanted = (sent * frame_rate * BITS_PER_PIXEL).max(MIN_LINK_BPS);
            (scale, wanted)
        })
        .collect();
    let wanted: f64 = scaled.iter().map(|(_, wanted)| wanted).sum();
    let share = if wanted > budget {
        budget / wanted
    } else {
        1.0
    };
    scaled
        .into_iter()
        .map(|(scale, wanted)| {
            let bitrate = wanted * share;
            Encoding {
                // Two decimals: a change in the third is no reason to call setParameters.
                scale_resolution_down_by: (scale * 100.0).round() / 100.0,
                max_bitrate: bitrate as u32,
                max_framerate: if bitrate < LOW_SHARE_BPS {
                    LOW_SHARE_FPS.min(frame_rate)
                } else {
                    frame_rate
                },
            }
        })
        .collect()
}

/// What to ask the camera for: the smallest size of the ladder that holds what the largest
/// view shows of it, so that a camera watched only by small tiles does not capture (and
/// downscale) HD. `shape` is what the camera captures now: a portrait camera (a phone held
/// upright) is asked for the ladder's sizes turned upright, and stays portrait.
pub fn capture_size(shape: ViewSize, views: &[ViewSize]) -> ViewSize {
    let portrait = shape.height > shape.width;
    let upright = |size: ViewSize| {
        if portrait {
            ViewSize {
                width: size.height,
                height: size.width,
            }
        } else {
            size
        }
    };
    // The ladder's 16:9 (or 9:16) shape, shown whole in each view.
    let shape = upright(CAPTURE_LADDER[0]);
    let needed = views.iter().fold(upright(MIN_VIEW), |largest, view| {
        let scale = (f64::from(view.width) / f64::from(shape.width))
            .min(f64::from(view.height) / f64::from(shape.height));
        largest.at_least(ViewSize {
            width: (f64::from(shape.width) * scale).round() as u32,
            height: (f64::from(shape.height) * scale).round() as u32,
        })
    });
    CAPTURE_LADDER
        .into_iter()
        .map(upright)
        .find(|step| step.width >= needed.width && step.height >= needed.height)
        .unwrap_or_else(|| upright(CAPTURE_LADDER[CAPTURE_LADDER.len() - 1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HD: CaptureSettings = CaptureSettings {
        size: ViewSize {
            width: 1280,
            height: 720,
        },
        frame_rate: 30.0,
    };

    fn view(width: u32, height: u32) -> ViewSize {
        ViewSize { width, height }
    }

    #[test]
    fn a_link_never_sends_more_pixels_than_its_receiver_shows() {
        let encodings = encodings(
            HD,
            &[view(640, 360), view(320, 180), view(1920, 1080)],
            10_000,
        );
        assert_eq!(encodings[0].scale_resolution_down_by, 2.0);
        assert_eq!(encodings[1].scale_resolution_down_by, 4.0);
        assert_eq!(
            encodings[2].scale_resolution_down_by, 1.0,
            "never scaled up"
        );
        // The tile shows the whole picture: in a view of another shape, the side that meets
        // the view's edge gets the view's pixels.
        let encodings = encodings_of(&[view(320, 720), view(640, 90)]);
        assert_eq!(encodings[0].scale_resolution_down_by, 4.0);
        assert_eq!(encodings[1].scale_resolution_down_by, 8.0);
        let portrait = CaptureSettings {
            size: view(720, 1280),
            frame_rate: 30.0,
        };
        let encodings = super::encodings(portrait, &[view(640, 360)], 10_000);
        assert_eq!(encodings[0].scale_resolution_down_by, 3.56);
    }

    fn encodings_of(views: &[ViewSize]) -> Vec<Encoding> {
        encodings(HD, views, 10_000)
    }

    #[test]
    fn the_links_share_the_uplink_in_proportion_to_their_pixels() {
        let views = [view(1280, 720), view(640, 360), view(640, 360)];
        let encodings = encodings(HD, &views, 2_500);
        let total: u32 = encodings.iter().map(|e| e.max_bitrate).sum();
        assert!(total <= 2_250_000, "a tenth is left for overshoot: {total}");
        assert!(
            total >= 2_249_000,
            "the budget is used when the links want more: {total}"
        );
        assert_eq!(encodings[1].max_bitrate, encodings[2].max_bitrate);
        let ratio = f64::from(encodings[0].max_bitrate) / f64::from(encodings[1].max_bitrate);
        assert!((ratio - 4.0).abs() < 0.01, "{ratio}");
        // Under the budget, each link gets what its size wants, and no more.
        let small = encodings_of(&[view(320, 180)]);
        assert_eq!(small[0].max_bitrate, 172_800);
        assert_eq!(small[0].max_framerate, 30.0);
    }

    #[test]
    fn eleven_links_stay_within_the_budget_and_thin_links_send_fewer_frames() {
        let views = vec![default_view(11); 11];
        let encodings = encodings(HD, &views, 2_500);
        let total: u32 = encodings.iter().map(|e| e.max_bitrate).sum();
        assert!(total <= 2_250_000, "{total}");
        assert!(encodings.iter().all(|e| e.max_framerate == 30.0));
        let thin = super::encodings(HD, &views, 1_000);
        assert!(thin.iter().all(|e| e.max_framerate == 15.0));
    }

    #[test]
    fn a_receiver_that_never_said_gets_a_tile_of_a_grid_of_the_room() {
        assert_eq!(default_view(1), view(1280, 720));
        assert_eq!(default_view(2), view(640, 360));
        assert_eq!(default_view(4), view(640, 360));
        assert_eq!(default_view(5), view(426, 239));
        assert_eq!(default_view(11), view(320, 180));
        assert_eq!(default_view(0), view(1280, 720));
    }

    #[test]
    fn a_tile_not_laid_out_yet_still_gets_a_small_picture() {
        let encodings = encodings_of(&[view(0, 0)]);
        assert_eq!(encodings[0].scale_resolution_down_by, 8.0);
        assert!(encodings[0].max_bitrate >= 60_000);
    }

    #[test]
    fn the_camera_captures_what_the_largest_view_needs() {
        let wide = view(1280, 720);
        assert_eq!(capture_size(wide, &[]), view(320, 180));
        assert_eq!(
            capture_size(wide, &[view(300, 170), view(200, 100)]),
            view(320, 180)
        );
        assert_eq!(
            capture_size(wide, &[view(300, 170), view(600, 340)]),
            view(640, 360)
        );
        // A wide view shows a 16:9 picture as tall as itself.
        assert_eq!(capture_size(wide, &[view(961, 300)]), view(640, 360));
        assert_eq!(capture_size(wide, &[view(3840, 2160)]), view(1280, 720));
    }

    #[test]
    fn a_portrait_camera_stays_portrait_and_is_sized_to_its_height() {
        let upright = view(480, 640);
        // Shown whole in a 640x360 tile, it is 360 pixels tall: 360x640 is the step that holds it.
        assert_eq!(capture_size(upright, &[view(640, 360)]), view(360, 640));
        assert_eq!(capture_size(upright, &[view(1920, 1080)]), view(720, 1280));
        assert_eq!(capture_size(upright, &[]), view(180, 320));
    }
}
