# pipelines/sweep.mk — the synthetic recipe beyond the preset (issue 13): the
# steps of pipelines/synthetic.mk (head, step a, c, d, the evaluations) over a
# grid of configurations drawn reproducibly from SWEEP_SEED by
# pipelines/sweep_configs.py (random truth, I 3–8, F 2–8, D 16–64, images of
# 1×2, 2×2, 3×3 pixels, 4–8 classes whose concept frequencies differ by up to
# 3×, pixels without a concept).
#
#   make -j2 synthetic-sweep       16 configurations × 2 seeds → runs/sweep/summary.txt, summary.png
#   make -j2 synthetic-sweep VARIANT=paper SWEEP_A_EXTRA='--bound ic=0.1' SWEEP_D_EXTRA='--bound ic=0.1'
#                                  the same grid with extra training flags → runs/sweep/paper/
#   make -j2 sweep-ablation VARIANTS="default paper" variant_paper="IC_BOUND=0.1"
#                                  one sweep per variant → runs/sweep/ablation.txt
#   make synthetic-sweep SWEEP=quick   3 configurations, 1 seed, a short schedule (make test)
#
# A configuration's seed folder is exactly one of synthetic.mk's (SYN_DIR =
# runs/sweep/[VARIANT/]cNN): each configuration is a sub-make of
# synthetic.mk's per-seed targets with that configuration's DATA_FLAGS,
# PER_CLASS and detectors count, as synthetic-ablation.mk runs its variants.
# (synthetic.mk's recipes read SYN_DIR and EXPERIMENT when they run, so one
# Make process holds one SYN_DIR.) Its flags files make it incremental and
# -j safe: a sub-make whose files are up to date does nothing. No SAEs and no
# rcav here: the sweep asks whether the directions are found.
SWEEP_BASE ?= runs/sweep
VARIANT ?=
SWEEP_DIR ?= $(SWEEP_BASE)$(if $(VARIANT),/$(VARIANT))
SWEEP_SEED ?= 1
SWEEP_CONFIGS ?= 16
SWEEP_SEEDS ?= 0 1
# Images per split over all classes (per class: SWEEP_IMAGES / K), as in the
# preset, so that an epoch has the preset's number of optimiser steps.
SWEEP_IMAGES ?= 3000
# The schedule: SWEEP_SCHEDULE=short (the default) trains SWEEP_EPOCHS_A /
# SWEEP_EPOCHS_D epochs at SWEEP_LR (steps a and d), a quarter of the
# paper's 20,000 epochs at four times its learning rate 5e-5 (the same
# distance for Adam's steps in step d; step a, at lr 2e-4 in synthetic.mk,
# goes a quarter of its way); SWEEP_SCHEDULE=full keeps synthetic.mk's
# EPOCHS_A, EPOCHS_D, LR, LR_A. README, "Sweep", compares the two.
SWEEP_SCHEDULE ?= short
SWEEP_EPOCHS_A ?= 5000
SWEEP_EPOCHS_D ?= 5000
SWEEP_LR ?= 2e-4
sweep_schedule = $(if $(filter short,$(SWEEP_SCHEDULE)),EPOCHS_A=$(SWEEP_EPOCHS_A) EPOCHS_D=$(SWEEP_EPOCHS_D) LR=$(SWEEP_LR) LR_A=$(SWEEP_LR))
# Extra flags of steps a and d for every configuration (after synthetic.mk's
# A_FLAGS / D_FLAGS: a repeated option's last value wins).
SWEEP_A_EXTRA ?=
SWEEP_D_EXTRA ?=
# What each configuration-seed makes (the summary reads the first ones);
# e.g. SWEEP_EXTRA_TARGETS='diagnose-d.tsv diagnose-ideal.tsv'.
SWEEP_TARGETS = head-eval.txt eval-a.h5 eval-c.h5 eval-d.h5 eval-eq1.h5 eval-ica.h5 eval-pcav.h5 $(SWEEP_EXTRA_TARGETS)
SWEEP_EXTRA_TARGETS ?=
# Only these configurations of the grid (e.g. SWEEP_PICK='c00 c03'; all when empty).
SWEEP_PICK ?=
# Starts of steps (a) → (d) per configuration-seed (synthetic.mk's STARTS:
# the one of lowest final step-(d) objective is kept).
SWEEP_STARTS ?= 2
# Further Make variables for every configuration's sub-make.
SWEEP_MAKE_VARS ?=

# SWEEP=quick (make test): one of each image shape among the grid's cheaper
# configurations, 1 seed, half the images, 1000 epochs at lr 1e-3.
ifeq ($(SWEEP),quick)
SWEEP_SCHEDULE := short
SWEEP_CONFIGS := 16
SWEEP_PICK := c02 c03 c07
SWEEP_SEEDS := 0
SWEEP_IMAGES := 1500
SWEEP_EPOCHS_A := 1000
SWEEP_EPOCHS_D := 1000
SWEEP_LR := 1e-3
SWEEP_MAKE_VARS += HEAD_FLAGS='--epochs 500 --lr 0.005 --batch 1024'
endif

# The configurations, one word each (NAME:I:F:D:H:W:K:PER_CLASS:CLASSES; see
# pipelines/sweep_configs.py), drawn only when a sweep target is asked for.
ifneq ($(filter synthetic-sweep $(SWEEP_DIR)/summary.txt $(SWEEP_DIR)/summary.png,$(MAKECMDGOALS)),)
SWEEP_DRAWN := $(shell /usr/bin/python3 pipelines/sweep_configs.py --seed $(SWEEP_SEED) --count $(SWEEP_CONFIGS) \
                 --images $(SWEEP_IMAGES) || echo FAILED)
ifneq ($(filter FAILED,$(SWEEP_DRAWN)),)
$(error pipelines/sweep_configs.py failed)
endif
SWEEP_SPECS := $(if $(SWEEP_PICK),$(filter $(addsuffix :%,$(SWEEP_PICK)),$(SWEEP_DRAWN)),$(SWEEP_DRAWN))
$(call flags_file,$(SWEEP_DIR)/configs.flags,SWEEP_SPECS)
endif
SWEEP_NAMES = $(foreach w,$(SWEEP_SPECS),$(firstword $(subst :, ,$(w))))
# $(call sweep_field,NAME,K): field K of configuration NAME.
sweep_field = $(word $(2),$(subst :, ,$(filter $(1):%,$(SWEEP_SPECS))))
sweep_data = --random-truth --dims $(call sweep_field,$(1),4) --concepts $(call sweep_field,$(1),2) \
             --distractors $(call sweep_field,$(1),3) --height $(call sweep_field,$(1),5) \
             --width $(call sweep_field,$(1),6) --classes $(call sweep_field,$(1),9)
# $(call sq,TEXT): TEXT quoted for the shell.
sq = '$(subst ','\'',$(1))'

.PHONY: synthetic-sweep sweep-ablation FORCE
synthetic-sweep: $(SWEEP_DIR)/summary.txt $(SWEEP_DIR)/summary.png
	@cat $(SWEEP_DIR)/summary.txt

# One configuration: synthetic.mk's targets for every seed, in a sub-make
# (sharing the jobserver, so -j2 means two steps at a time overall) with its
# data and one detector per concept in step a (and so d). It runs every
# time; its own rules decide what is out of date. OMP_NUM_THREADS:
# synthetic.mk's short steps (eddp --step c, regress) take no --threads and
# would run on every core, which under -j2 on a busy machine slows the ICA
# estimator from seconds to minutes.
$(SWEEP_DIR)/%/.made: FORCE | $(TOOLS)
	@OMP_NUM_THREADS=$(THREADS) $(MAKE) --no-print-directory SYN_DIR=$(SWEEP_DIR)/$* EXPERIMENT=sweep/$(if $(VARIANT),$(VARIANT)/)$* \
	    SEED=$(firstword $(SWEEP_SEEDS)) SEEDS='$(SWEEP_SEEDS)' PER_CLASS=$(call sweep_field,$*,8) \
	    DATA_FLAGS=$(call sq,$(call sweep_data,$*)) \
	    A_EXTRA=$(call sq,--detectors $(call sweep_field,$*,2) $(SWEEP_A_EXTRA)) D_EXTRA=$(call qv,SWEEP_D_EXTRA) \
	    STARTS=$(SWEEP_STARTS) $(sweep_schedule) $(SWEEP_MAKE_VARS) synthetic-sweep-config
# The sub-make's goal: every seed's files (SYN_DIR and SEEDS are the
# configuration's there). A recipe, so that an up-to-date configuration
# says nothing.
.PHONY: synthetic-sweep-config
synthetic-sweep-config: $(foreach s,$(SEEDS),$(addprefix $(SYN_DIR)/seed$(s)/,$(SWEEP_TARGETS)))
	@:

# The summary table (pipelines/sweep_report.py) and its figure.
$(SWEEP_DIR)/summary.txt $(SWEEP_DIR)/rows.tsv &: $(foreach c,$(SWEEP_NAMES),$(SWEEP_DIR)/$(c)/.made) \
                                                 $(SWEEP_DIR)/configs.flags pipelines/sweep_report.py
	/usr/bin/python3 pipelines/sweep_report.py --rows $(SWEEP_DIR)/rows.tsv $(SWEEP_DIR) '$(SWEEP_SEEDS)' \
	    $(call qv,SWEEP_SPECS) > $(SWEEP_DIR)/summary.tmp
	mv $(SWEEP_DIR)/summary.tmp $(SWEEP_DIR)/summary.txt
$(SWEEP_DIR)/summary.png: $(SWEEP_DIR)/rows.tsv pipelines/sweep.gp
	gnuplot -e "data='$<'; output='$@'" pipelines/sweep.gp

FORCE:

# --- ablation: the same grid under each variant, one line of aggregates per
# variant. VARIANTS names them; variant_NAME holds the Make settings of
# variant NAME (as on the command line); "default" is the plain sweep
# (runs/sweep/), every other variant runs under runs/sweep/NAME/:
#   make -j2 sweep-ablation VARIANTS="default paper-ic" variant_paper-ic="IC_BOUND=0.1"
#   make -j2 sweep-ablation VARIANTS="default floor" variant_floor="SWEEP_A_EXTRA='--x 1' SWEEP_D_EXTRA='--x 1'"
# Variants run one after the other, each with make's -j.
VARIANTS ?= default
variant_default :=
sweep_variant_dir = $(SWEEP_BASE)$(if $(filter-out default,$(1)),/$(1))
sweep-ablation: $(SWEEP_BASE)/ablation.txt
	@cat $<
$(SWEEP_BASE)/ablation.txt: FORCE
	$(foreach v,$(VARIANTS),$(MAKE) --no-print-directory synthetic-sweep VARIANT=$(filter-out default,$(v)) $(variant_$(v)) > /dev/null &&) true
	/usr/bin/python3 pipelines/sweep_report.py --ablation $(foreach v,$(VARIANTS),$(v)=$(call sweep_variant_dir,$(v))/rows.tsv) > $@.tmp
	mv $@.tmp $@
