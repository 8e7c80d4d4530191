#!/usr/bin/python3
"""sweep_configs.py --seed N --count N [--images N] [--first N] — the
configurations of the synthetic sweep (pipelines/sweep.mk), drawn
reproducibly from the seed: one line per configuration, its fields
separated by ':' (one Make word each):

    NAME:I:F:D:H:W:K:PER_CLASS:CLASSES

NAME       c00, c01, ...: the configuration's folder
I, F, D    concepts (= detectors of steps a and d), distractors, dimensions
H, W       pixels per image (1x2, 2x2 or 3x3, in turn)
K          classes (4 to 8)
PER_CLASS  images per class: --images / K, so every configuration has about
           as many images (and optimiser steps per epoch) as the preset
CLASSES    synthgen --classes: classes by ';', a class's H*W pixels by ',',
           -1 for a pixel without a concept

Configuration k is drawn from its own stream (seed and k), so it does not
depend on --count or --first. Constraints (issue 13): I in 3..8, F in 2..8,
D in 16..64 (I + F <= D always holds), concept frequencies (pixel counts)
that differ by at most 3x, a target imbalance drawn in [1, 3] so that the
sweep spreads over it, up to a quarter of the pixels without a concept. Two
more keep every concept something the head can see, as in the preset: no
two classes have the same multiset of pixel concepts (a pooled linear head
could not tell them apart), and no concept has the same count in every class.
Only the Python standard library."""
import argparse
import random

SHAPES = ((1, 2), (2, 2), (3, 3))
MAX_RATIO = 3.0


def concept_counts(rng, n_concepts, n_slots, target_ratio):
    """Pixel slots per concept, summing to n_slots, every count >= 1, the
    largest at most MAX_RATIO times the smallest; None when impossible."""
    weights = [1.0, target_ratio] + [rng.uniform(1.0, target_ratio) for _ in range(n_concepts - 2)]
    rng.shuffle(weights)
    total = sum(weights)
    counts = [max(1, round(w / total * n_slots)) for w in weights]
    while sum(counts) != n_slots:
        order = sorted(range(n_concepts), key=lambda j: counts[j])
        if sum(counts) > n_slots:
            j = order[-1]
            if counts[j] == 1:
                return None
            counts[j] -= 1
        else:
            counts[order[0]] += 1
    if max(counts) > MAX_RATIO * min(counts):
        return None
    return counts


def acceptable(classes, n_concepts):
    pooled = [tuple(sorted(c)) for c in classes]
    if len(set(pooled)) != len(pooled):
        return False
    for j in range(n_concepts):
        if len({c.count(j) for c in classes}) == 1:
            return False
    return True


def place(rng, counts, n_empty, n_classes, n_pixels, tries=400):
    """The pixel->concept table: classes x pixels, or None."""
    slots = [j for j, n in enumerate(counts) for _ in range(n)] + [-1] * n_empty
    for _ in range(tries):
        rng.shuffle(slots)
        classes = [slots[k * n_pixels:(k + 1) * n_pixels] for k in range(n_classes)]
        if acceptable(classes, len(counts)):
            return classes
    return None


def draw(seed, index, images):
    rng = random.Random(f"eddp-sweep:{seed}:{index}")
    height, width = SHAPES[index % len(SHAPES)]
    n_pixels = height * width
    while True:
        n_concepts = rng.randint(3, 8)
        n_distractors = rng.randint(2, 8)
        dims = rng.randint(16, 64)
        n_classes = rng.randint(4, 8)
        target_ratio = rng.uniform(1.0, MAX_RATIO)
        n_slots = n_classes * n_pixels
        n_empty = round(rng.uniform(0.0, 0.25) * n_slots)
        if n_slots - n_empty < n_concepts + 1:
            continue
        counts = concept_counts(rng, n_concepts, n_slots - n_empty, target_ratio)
        if counts is None:
            continue
        classes = place(rng, counts, n_empty, n_classes, n_pixels)
        if classes is None:
            continue
        spec = ";".join(",".join(str(c) for c in cls) for cls in classes)
        per_class = max(1, round(images / n_classes))
        return (f"c{index:02d}", n_concepts, n_distractors, dims, height, width, n_classes, per_class, spec)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--first", type=int, default=0, help="index of the first configuration")
    parser.add_argument("--images", type=int, default=3000, help="images per split (all classes)")
    args = parser.parse_args()
    for index in range(args.first, args.first + args.count):
        print(":".join(str(v) for v in draw(args.seed, index, args.images)))


if __name__ == "__main__":
    main()
