//! Which camera the Flip button turns to: the other side of a phone, or the next camera of a
//! computer. Pure: the mesh reads what the camera reports of itself
//! (`MediaStreamTrack.getSettings()`) and the device's cameras (`enumerateDevices()`).

/// `facingMode`, in the spec's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Facing {
    User,
    Environment,
}

impl Facing {
    pub fn as_str(self) -> &'static str {
        match self {
            Facing::User => "user",
            Facing::Environment => "environment",
        }
    }
}

/// The camera to ask `getUserMedia` for, as an exact constraint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CameraPick {
    Facing(Facing),
    Device(String),
}

/// The camera after the one in use, which reports `facing` and `device_id`, among `inputs`
/// (the device's cameras' ids, in the browser's order). A camera that says which way it faces
/// (a phone's) is turned to the other way, whatever the number of lenses behind it; one that
/// does not (a computer's) gives way to the next camera of the list. `None` when there is no
/// other camera.
pub fn other_camera(
    facing: Option<&str>,
    device_id: Option<&str>,
    inputs: &[String],
) -> Option<CameraPick> {
    let inputs: Vec<&String> = inputs.iter().filter(|id| !id.is_empty()).collect();
    if inputs.len() < 2 {
        return None;
    }
    match facing {
        Some("user") => return Some(CameraPick::Facing(Facing::Environment)),
        Some("environment") => return Some(CameraPick::Facing(Facing::User)),
        _ => {}
    }
    let next = match inputs.iter().position(|id| Some(id.as_str()) == device_id) {
        Some(current) => inputs[(current + 1) % inputs.len()],
        None => inputs[0],
    };
    Some(CameraPick::Device(next.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|id| id.to_string()).collect()
    }

    #[test]
    fn a_phone_turns_to_its_other_side() {
        let phone = ids(&["front", "back-wide", "back-tele"]);
        assert_eq!(
            other_camera(Some("user"), Some("front"), &phone),
            Some(CameraPick::Facing(Facing::Environment))
        );
        assert_eq!(
            other_camera(Some("environment"), Some("back-wide"), &phone),
            Some(CameraPick::Facing(Facing::User))
        );
    }

    #[test]
    fn a_computer_goes_round_its_cameras() {
        let desk = ids(&["a", "b", "c"]);
        let pick = |current| other_camera(None, Some(current), &desk);
        assert_eq!(pick("a"), Some(CameraPick::Device("b".into())));
        assert_eq!(pick("c"), Some(CameraPick::Device("a".into())));
        assert_eq!(pick("gone"), Some(CameraPick::Device("a".into())));
        assert_eq!(
            other_camera(Some("left"), Some("b"), &desk),
            Some(CameraPick::Device("c".into()))
        );
    }

    #[test]
    fn one_camera_has_no_other() {
        assert_eq!(other_camera(Some("user"), Some("a"), &ids(&["a"])), None);
        // Ids are empty until the page may use a camera: nothing to choose from.
        assert_eq!(other_camera(None, None, &ids(&["", ""])), None);
        assert_eq!(other_camera(None, None, &[]), None);
    }
}
