import numpy as np
import pytest

from faceclust.errors import BadInput
from faceclust.video import SamplingParams, iter_frames, nearest_to_targets, probe

from corpus import ffmpeg


def test_probe_reads_the_header(data):
    info = probe(data / "clips" / "multi_face.avi")
    assert (info.width, info.height, info.fps) == (640, 480, 30.0)
    assert info.frame_count == 702


def test_a_variable_frame_rate_clip_s_length_is_what_its_container_states(data):
    """Frame count / rate is seconds off where the rate varies: reels were cut past the end."""
    info = probe(data / "clips" / "song_kbs_interview.mp4")
    assert info.duration_s == pytest.approx(10.85, abs=0.01)
    assert info.frame_count / info.fps == pytest.approx(12.08, abs=0.01)


@pytest.mark.parametrize("name", ["multi_face.avi", "short_hamilton_clip.mp4", "facenet_pytorch_video.mp4"])
def test_step_samples_frames_from_zero_with_times(data, name):
    frames = list(iter_frames(data / "clips" / name, 15))
    info = probe(data / "clips" / name)
    assert [f.index for f in frames] == list(range(0, info.frame_count, 15))
    times = np.array([f.t_sec for f in frames])
    assert times[0] == 0 and np.allclose(np.diff(times), 15 / info.fps, atol=0.02)
    assert frames[0].image.shape == (info.height, info.width, 3)


def test_fps_resolves_to_a_step_on_the_frame_grid():
    assert SamplingParams(fps=2).resolve_step(30.0) == 15
    assert SamplingParams(fps=2).resolve_step(29.97) == 15
    assert SamplingParams(fps=100).resolve_step(25.0) == 1
    assert SamplingParams(step=7).resolve_step(25.0) == 7


@pytest.mark.parametrize(
    "params",
    [SamplingParams(step=0), SamplingParams(fps=-1), SamplingParams(fps=0), SamplingParams(frames="fast")],
)
def test_absurd_sampling_is_bad_input(params):
    with pytest.raises(BadInput):
        params.validate()


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty"), (b"\x00garbage" * 1000, "not a readable video")],
)
def test_files_that_are_not_video(tmp_path, content, message):
    path = tmp_path / "clip.mp4"
    path.write_bytes(content)
    with pytest.raises(BadInput, match=message):
        probe(path)


def test_missing_file(tmp_path):
    with pytest.raises(BadInput, match="no such file"):
        probe(tmp_path / "nope.mp4")


@pytest.mark.parametrize("frames", ["exact", "cheap"])
def test_truncated_clip_is_reported(data, tmp_path, frames):
    source = (data / "clips" / "multi_face.avi").read_bytes()
    path = tmp_path / "cut.avi"
    path.write_bytes(source[: len(source) // 2])
    with pytest.raises(BadInput, match="truncated"):
        list(iter_frames(path, 15, frames))


def test_rotation_metadata_is_applied(data, tmp_path):
    # Rotated by metadata only: decoded frames must come out upright (portrait), in both modes.
    path = tmp_path / "rotated.mp4"
    source = data / "clips" / "short_hamilton_clip.mp4"
    ffmpeg("-i", source, "-t", "1", "-c", "copy", "-metadata:s:v:0", "rotate=90", path)
    exact, cheap = next(iter_frames(path, 15)), next(iter_frames(path, 15, "cheap"))
    assert exact.image.shape[:2] == (640, 360) and np.array_equal(exact.image, cheap.image)


def test_nearest_to_targets_takes_each_targets_nearest_within_half_a_period():
    candidates = [(t, f"at {t}") for t in (0.0, 0.4, 0.45, 1.2, 3.0)]
    chosen = [item for _, item in nearest_to_targets(candidates, 0.5)]
    # 0 -> 0.0; 0.5 -> 0.45; 1.0 -> 1.2; 1.5 to 2.5: none within 0.25; 3.0 -> 3.0
    assert chosen == ["at 0.0", "at 0.45", "at 1.2", "at 3.0"]
    # One candidate nearest to two targets is taken once; no target past the last candidate.
    assert [t for t, _ in nearest_to_targets([(0.0, 0), (0.9, 1)], 0.4)] == [0.0, 0.9]


@pytest.mark.parametrize("name", ["multi_face.avi", "short_hamilton_clip.mp4"])
def test_cheap_frames_are_the_exact_frames_where_a_clip_has_no_b_frames(data, name):
    exact = list(iter_frames(data / "clips" / name, 15))
    cheap = list(iter_frames(data / "clips" / name, 15, "cheap"))
    assert [f.index for f in cheap] == [f.index for f in exact]
    assert np.allclose([f.t_sec for f in cheap], [f.t_sec for f in exact], atol=0.002)
    assert all(np.array_equal(a.image, b.image) for a, b in zip(exact, cheap, strict=True))


def test_cheap_frames_skip_b_frames_within_half_a_step_with_their_real_index(data):
    clip = data / "clips" / "song_kbs_interview.mp4"  # H.264 with B-frames and an edit list
    info, exact = probe(clip), list(iter_frames(clip, 15))
    cheap = list(iter_frames(clip, 15, "cheap"))
    times, indices = np.array([f.t_sec for f in cheap]), np.array([f.index for f in cheap])
    targets = np.arange(len(cheap)) * 15 / info.fps
    assert len(cheap) == len(exact) and np.all(np.abs(times - targets) <= 7.5 / info.fps)
    assert np.all(np.abs(indices - times * info.fps) < 0.5)  # the index is the frame's place in the clip
    assert set(indices) != {f.index for f in exact}  # some targets fell on B-frames: a neighbour came
    by_index = {f.index: f.image for f in exact}
    shared = [f for f in cheap if f.index in by_index]
    assert shared and all(np.abs(f.image.astype(int) - by_index[f.index]).mean() < 1 for f in shared)


def test_cheap_frames_are_keyframes_alone_where_keyframes_are_dense(data, tmp_path):
    path = tmp_path / "dense_keys.mp4"  # a keyframe every 7 frames, step 15
    source = data / "clips" / "short_hamilton_clip.mp4"
    keys = "keyint=7:min-keyint=7:scenecut=0:bframes=2"
    ffmpeg("-ss", "3", "-i", source, "-t", "2", "-c:v", "libx264", "-x264-params", keys, "-an", path)
    assert [f.index for f in iter_frames(path, 15, "cheap")][:4] == [0, 14, 28, 42]


@pytest.mark.parametrize(
    ("suffix", "codec"),
    [(".mp4", "libx264"), (".mov", "libx264"), (".mkv", "libx264"), (".webm", "libvpx"), (".avi", "mpeg4")],
)
def test_reads_ordinary_containers(data, tmp_path, suffix, codec):
    path = tmp_path / f"clip{suffix}"
    # From 3 s on: the clip's video starts 0.87 s after its audio, and a cut from 0 would hold
    # 1.1 s of video in a 2 s container (which faceclust rightly calls truncated).
    source = data / "clips" / "short_hamilton_clip.mp4"
    ffmpeg("-ss", "3", "-i", source, "-t", "2", "-c:v", codec, "-an", path)
    frames = list(iter_frames(path, 10))
    assert [f.index for f in frames][:3] == [0, 10, 20]
    assert len(frames) >= 5 and frames[0].image.shape == (360, 640, 3)


def test_audio_only_file_is_bad_input(data, tmp_path):
    path = tmp_path / "sound.mp4"
    ffmpeg("-i", data / "clips" / "short_hamilton_clip.mp4", "-vn", "-c:a", "copy", path)
    with pytest.raises(BadInput):
        probe(path)


def test_cheap_frames_of_a_whole_clip_with_sparse_keyframes_are_not_called_truncated(data, tmp_path):
    """Keyframes alone are decoded here; the clip is whole up to its last packet."""
    path = tmp_path / "keys_each_second.mp4"
    source = data / "clips" / "short_hamilton_clip.mp4"
    keys = "keyint=30:min-keyint=30:scenecut=0:bframes=0"
    ffmpeg("-ss", "3", "-i", source, "-t", "3.5", "-c:v", "libx264", "-x264-params", keys, "-an", path)
    assert [f.index for f in iter_frames(path, 30, "cheap")] == [0, 30, 60, 90]
