"""Temporal smoothing of stylized frames, scene cuts, and the flicker figure. No TensorFlow.

Frame-by-frame AnimeGANv2 flickers in two ways. Global tone jumps are
removed in the model (running layer-norm moments, `Generator.call_running`),
restarted at scene cuts found here. Local shimmer, brush textures that
change where the photo barely moved, is removed after the model: each
stylized frame is blended with the previous output warped along the optical
flow of the photos (OpenCV's DIS), where the flow explains the photo well
and agrees with the flow computed the other way (forward-backward
consistency); elsewhere each pixel falls back to the frame's own stylization.
"""
from __future__ import annotations

import cv2
import numpy as np

THUMBNAIL = (64, 36)
CUT_DIFFERENCE = 20.0  # mean absolute difference of grey thumbnails (of 255) that marks a new shot
FLOW_MAX_SIDE = 480  # flow is computed at this size at most, then scaled up
BLEND = 0.91  # weight of the warped previous output where the flow is reliable
RELIABLE_ERROR = 20.0  # warping error of the denoised photo (of 255) where the weight falls to BLEND/e
STILL_CHANGE = 5.0  # change of the denoised photo (of 255) up to which the flow is not followed (in full from twice that)
# Forward-backward check (Sundaram et al. 2010): a flow vector is trusted where going forward and back
# returns within CONSISTENT_SLACK px + CONSISTENT_FRACTION of the motion, not at all from twice that.
CONSISTENT_SLACK, CONSISTENT_FRACTION = 0.5, 0.01
KEPT_CHANGE = 0.0  # output change (of 255) at which a pixel keeps this frame's stroke (weight falls to 1/e); 0: off
DETAIL_SIGMA = 0.0  # Gaussian (px) below which a moving pixel's detail is this frame's own; 0: off


def thumbnail(rgb):
    """A small grey float image for scene-cut detection."""
    return cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), THUMBNAIL, interpolation=cv2.INTER_AREA).astype(np.float32)


class SceneCuts:
    """Calls with each frame in order; True where a new shot starts (and for the first frame)."""

    def __init__(self, threshold=CUT_DIFFERENCE):
        self.threshold = threshold
        self._last = None

    def __call__(self, rgb):
        small = thumbnail(rgb)
        cut = self._last is None or float(np.mean(np.abs(small - self._last))) > self.threshold
        self._last = small
        return cut

    def state(self):
        """What the next call depends on ({name: array}), to resume a run."""
        return {} if self._last is None else {"last": self._last}

    def load_state(self, state):
        self._last = state.get("last")


class FlowSmoother:
    """Blends each stylized frame with the previous output, warped by the photos' optical flow.

    The blend weight of a pixel falls with how badly the flow explains the
    photo there (occlusions, new objects, lighting changes), so moving
    content is not smeared; at a cut the frame passes unchanged.
    """

    def __init__(self, blend=BLEND, reliable_error=RELIABLE_ERROR, still_change=STILL_CHANGE, consistency_check=1.0,
                 consistent_slack=CONSISTENT_SLACK, kept_change=KEPT_CHANGE, detail_sigma=DETAIL_SIGMA):
        self.blend, self.reliable_error, self.still_change = blend, reliable_error, still_change
        self.consistency_check = consistency_check  # 0 turns the forward-backward check off (to compare)
        self.consistent_slack, self.kept_change = consistent_slack, kept_change
        self.detail_sigma = detail_sigma
        self._flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        self._photo = self._output = self._photo_denoised = None

    def __call__(self, photo, stylized, cut):
        """uint8 RGB photo and its stylized frame (same size) to the smoothed frame."""
        denoised = _denoised(photo)
        if cut or self._photo is None or self._photo.shape != photo.shape:
            result = stylized
        else:
            moving = self._moving(denoised)
            grid, consistent = self._sampling_grid(photo, moving)
            warped_photo = cv2.remap(self._photo, *grid, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            warped_output = cv2.remap(self._output, *grid, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            error = np.abs(denoised - _denoised(warped_photo)).mean(axis=2)  # grain is not motion
            error = cv2.GaussianBlur(error, (0, 0), 2.0)
            trusted = 1.0 - self.consistency_check * moving * (1.0 - consistent)  # a flow not followed needs no check
            weight = self.blend * trusted * np.exp(-(error / self.reliable_error) ** 2)
            if self.kept_change:  # a stroke this frame draws (or drops) is its own, not the past's average
                change = np.abs(stylized.astype(np.float32) - warped_output).max(axis=2)
                weight *= np.exp(-(cv2.GaussianBlur(change, (0, 0), 1.0) / self.kept_change) ** 2)
            result = self._blend(stylized, warped_output, weight, moving)
        self._photo, self._output, self._photo_denoised = photo, result, denoised
        return result

    def _blend(self, stylized, warped_output, weight, moving):
        """stylized + weight x (warped past - stylized), per pixel; with `detail_sigma`, a moving
        pixel's fine detail is not blended: warping blurs it and moved strokes average away."""
        difference = warped_output.astype(np.float32) - stylized
        if self.detail_sigma:
            detail_weight = weight * (1.0 - moving)
            coarse = cv2.GaussianBlur(difference, (0, 0), self.detail_sigma)
            blended = detail_weight[..., None] * difference + (weight - detail_weight)[..., None] * coarse
        else:
            blended = weight[..., None] * difference
        return np.clip(stylized + blended + 0.5, 0, 255).astype(np.uint8)

    def state(self):
        """The previous photo and output ({name: array}), to resume a run."""
        return {} if self._photo is None else {"photo": self._photo, "output": self._output}

    def load_state(self, state):
        self._photo, self._output = state.get("photo"), state.get("output")
        self._photo_denoised = None if self._photo is None else _denoised(self._photo)

    def _moving(self, denoised):
        """Per pixel, 0 where the denoised photo held still since the previous frame, rising to 1 where it moved.

        Optical flow on a still, grainy or flat area is not zero but jitters by
        fractions of a pixel; following it would shift the previous output's
        brush texture back and forth, the shimmer this class removes.
        """
        change = np.abs(denoised - self._photo_denoised).mean(axis=2)
        return np.clip(cv2.GaussianBlur(change, (0, 0), 2.0) / self.still_change - 1.0, 0.0, 1.0)

    def _sampling_grid(self, photo, moving):
        """((map_x, map_y), consistency): where each pixel of this frame was in the previous one
        (`moving` scales the flow), and per pixel how well the flow back agrees (1 trusted, 0 not)."""
        height, width = photo.shape[:2]
        scale = min(1.0, FLOW_MAX_SIDE / max(height, width))
        size = (max(8, round(width * scale)), max(8, round(height * scale)))
        now, before = (cv2.resize(cv2.cvtColor(p, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA)
                       for p in (photo, self._photo))
        flow = self._flow.calc(now, before, None)
        consistent = np.ones((height, width), np.float32)
        if self.consistency_check:
            backward = self._flow.calc(before, now, None)
            consistent = cv2.resize(forward_backward_consistency(flow, backward, self.consistent_slack),
                                    (width, height), interpolation=cv2.INTER_LINEAR)
        flow = cv2.resize(flow, (width, height), interpolation=cv2.INTER_LINEAR) * (moving[..., None] / scale)
        xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
        return (xs + flow[..., 0], ys + flow[..., 1]), consistent


def forward_backward_consistency(forward, backward, slack=CONSISTENT_SLACK):
    """Per pixel, 1 where `backward` (sampled where `forward` points) undoes `forward`, falling to 0.

    Occluded, disoccluded and fast-moving pixels, and flow guessed on texture
    too weak to follow, fail the round trip; following them would paste the
    previous output where it does not belong.
    """
    height, width = forward.shape[:2]
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    back = cv2.remap(backward, xs + forward[..., 0], ys + forward[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=(1e6, 1e6))  # leaving the frame: not trusted
    round_trip = np.sum((forward + back) ** 2, axis=2)
    allowed = CONSISTENT_FRACTION * (np.sum(forward ** 2, axis=2) + np.sum(back ** 2, axis=2)) + slack
    return np.clip(2.0 - round_trip / allowed, 0.0, 1.0).astype(np.float32)


def _denoised(rgb):
    return cv2.GaussianBlur(rgb.astype(np.float32), (0, 0), 1.5)


def flicker(photos, outputs, cuts):
    """Mean |output change| / mean |photo change| between consecutive frames, cuts left out.

    1.0 means the output changes as much as the photo does; frame-by-frame
    stylizing is well above that.
    """
    changes_out, changes_in = [], []
    for i in range(1, len(photos)):
        if cuts[i]:
            continue
        changes_out.append(np.mean(np.abs(outputs[i].astype(np.float32) - outputs[i - 1])))
        changes_in.append(np.mean(np.abs(photos[i].astype(np.float32) - photos[i - 1])))
    if not changes_in or sum(changes_in) == 0:
        return float("nan")
    return float(np.mean(changes_out) / np.mean(changes_in))
