# pipelines/watermark.mk — the paper's watermark (model-correction)
# experiment (its App. I, Tables 9 and 10; eddp(7), CORRECTION) on real
# photographs: Fashion-MNIST from Debian's dataset-fashion-mnist, three
# similar classes (Sandal, Sneaker, Ankle boot as the paper's three chess
# pieces), half of one class's training images watermarked.
#
#   make watermark                 → runs/watermark/report.txt (+ PNG figures)
#   make watermark WM_SEED=3 NET_EPOCHS=20
#   make watermark WATERMARK=quick a short schedule (make test runs it)
#
# data → network (trainnet) → its last layer's features of the training set
# and of the clean / poisoned / union test sets → steps (a), (c), (d) with
# I = 6 and the chess experiment's constraints → iou-label against the
# watermark annotation (which detector is the watermark's) → rcav of every
# signal vector → correction (Eq. 18) with the watermark detector's signal
# vector, its filter direction and random vectors → report.
#
# As in synthetic.mk, every setting is a variable, each target depends on a
# flags file holding the settings it was made with (pipelines/common.mk), the
# tools are order-only prerequisites, every step runs through
# pipelines/step.sh (RUN=..., or SLURM=1: each step a job), and training
# steps checkpoint and resume.
.DELETE_ON_ERROR:
export HDF5_USE_FILE_LOCKING = FALSE

WM_DIR ?= runs/watermark
WM_SEED ?= 0
WM_THREADS ?= 2
FASHION_MNIST ?= /usr/share/datasets/fashion-mnist
WM_IDX = $(foreach s,train t10k,$(FASHION_MNIST)/$(s)-images-idx3-ubyte.gz $(FASHION_MNIST)/$(s)-labels-idx1-ubyte.gz)

# --- data (imgset(1)): classes by source index (5 Sandal, 7 Sneaker,
# 9 Ankle boot), the stratified 0.7 split of the pooled 70,000 images, "FM"
# stamped on half of the Sneaker training images.
WM_CLASSES ?= 5,7,9
WM_TEXT ?= FM
WM_CLASS ?= 7
WM_FRACTION ?= 0.5
WM_DATA_FLAGS ?= --classes $(WM_CLASSES) --watermark $(WM_TEXT) --watermark-class $(WM_CLASS) --seed $(WM_SEED)
# --- the network (trainnet(1)): the paper's lr; epochs until the clean test
# accuracy settles (the paper trained 1000 epochs on 147 images).
NET_FLAGS ?= --epochs 10 --lr 0.005 --batch 64
# --- direction learning: I = 6 and the chess experiment's constraints
# (eddp(7); L^ma < 0.8, L^ic < 0.01, L^eac < 0.01, L^mm < 8, L^fso < 0.1).
WM_LR ?= 1e-3
WM_EPOCHS_A ?= 2000
WM_EPOCHS_D ?= 2000
WM_LOSS_FLAGS ?= --gamma 1.1 --tau 0.2 --rho 0.5 --nu 4 --kappa 0.5:0.9
WM_AL_FLAGS ?= --objective constrained --al-every 50 --al-penalty 1 --al-growth 10 --al-penalty-max 1e4
WM_TRAIN = --threads $(WM_THREADS) --lr $(WM_LR) --batch 1024 $(WM_AL_FLAGS) $(WM_LOSS_FLAGS)
WM_A_ALL = $(WM_TRAIN) --detectors 6 --losses s,ma,mm,ic,uur --weight s=2.6 --weight uur=0.25 \
           --bound ma=0.8 --bound mm=8 --bound ic=0.01 --epochs $(WM_EPOCHS_A)
WM_D_ALL = $(WM_TRAIN) --losses s,sb,ma,mm,ic,eac,cur,fso --weight s=0.85 --weight sb=2.6 --weight cur=0.25 \
           --bound ma=0.8 --bound mm=8 --bound ic=0.01 --bound eac=0.01 --bound fso=0.1 --epochs $(WM_EPOCHS_D)
# --- influence and correction
WM_RCAV_FLAGS ?= --alpha 5 --noise 100
# k in units of the detector's logit (correct(1)): where the detector fires
# fully, the correction lowers its logit by k.
WM_STRENGTH ?= 450
WM_TRIALS ?= 0 1 2 3 4 5 6 7 8 9
WM_TESTS := clean poisoned union

ifeq ($(WATERMARK),quick)
NET_FLAGS := --epochs 2 --lr 0.005 --batch 64
WM_EPOCHS_A := 300
WM_EPOCHS_D := 300
WM_RCAV_FLAGS := --alpha 5 --noise 20
WM_TRIALS := 0 1
endif

W := $(WM_DIR)
# $(call wm_step,STEP,CLASS): the command prefix of one step (pipelines/common.mk:
# RUN, or SLURM=1 jobs named watermark/STEP), its log in WM_DIR/logs/STEP.log.
wm_step = $(call run_step,watermark/$(1),$(2),$(W)/logs/$(1).log)
ifneq ($(filter watermark% $(WM_DIR)/%,$(MAKECMDGOALS)),)
$(call flags_file,$(W)/data.flags,WM_DATA_FLAGS)
$(call flags_file,$(W)/net.flags,NET_FLAGS)
$(call flags_file,$(W)/a.flags,WM_A_ALL)
$(call flags_file,$(W)/d.flags,WM_D_ALL)
$(call flags_file,$(W)/rcav.flags,WM_RCAV_FLAGS)
$(call flags_file,$(W)/correct.flags,WM_STRENGTH)
endif

.PHONY: watermark
watermark: build/.watermark-deps-ok $(W)/report.txt
	@cat $(W)/report.txt

# --- data: the training set (half of one class watermarked) and the three
# test sets of the paper: clean, poisoned (every image), union (both).
$(W)/train.h5 $(W)/examples.png &: $(W)/data.flags | build/.watermark-deps-ok bin/imgset
	$(call wm_step,train,short) bin/imgset --quiet --overwrite @$(W)/data.flags --split train --fraction $(WM_FRACTION) \
	    $(WM_IDX) -o $(W)/train.h5 --png $(W)/examples.png
$(W)/test-clean.h5: $(W)/data.flags | build/.watermark-deps-ok bin/imgset
	$(call wm_step,test-clean,short) bin/imgset --quiet --overwrite @$< --split test --poison none $(WM_IDX) -o $@
$(W)/test-poisoned.h5: $(W)/data.flags | build/.watermark-deps-ok bin/imgset
	$(call wm_step,test-poisoned,short) bin/imgset --quiet --overwrite @$< --split test --poison all $(WM_IDX) -o $@
$(W)/test-union.h5: $(W)/data.flags | build/.watermark-deps-ok bin/imgset
	$(call wm_step,test-union,short) bin/imgset --quiet --overwrite @$< --split test --poison union $(WM_IDX) -o $@

# --- the network, its accuracy (Table 9 comes from the features + head, the
# same numbers), its last layer's features and its head.
$(W)/net.h5: $(W)/train.h5 $(W)/net.flags | bin/trainnet
	$(call wm_step,net,train) bin/trainnet --quiet --overwrite --seed $(WM_SEED) --threads $(WM_THREADS) @$(W)/net.flags $< -o $@
# The watermark annotation on the 2×2 grid: every cell of a watermarked
# image (cell rule image), since each cell of this layer sees the whole
# 28×28 image (trainnet(1)).
WM_CELL_RULE ?= image
$(W)/feat-train.h5 $(W)/head.h5 &: $(W)/net.h5 $(W)/train.h5 | bin/trainnet
	$(call wm_step,feat-train,short) bin/trainnet --quiet --overwrite --features --cell-rule $(WM_CELL_RULE) $^ -o $(W)/feat-train.h5 \
	    --head-out $(W)/head.h5
$(W)/feat-%.h5: $(W)/net.h5 $(W)/test-%.h5 | bin/trainnet
	$(call wm_step,feat-$*,short) bin/trainnet --quiet --overwrite --features --cell-rule $(WM_CELL_RULE) $^ -o $@

# --- direction learning (steps a, c, d) and Eq. 1 on the final detectors
$(W)/a.h5: $(W)/feat-train.h5 $(W)/head.h5 $(W)/a.flags | bin/uibe
	$(drop_stale_checkpoint)
	$(call wm_step,a,train) bin/uibe --quiet --overwrite --seed $(WM_SEED) $(CHECKPOINTS) @$(W)/a.flags $(W)/feat-train.h5 $(W)/head.h5 -o $@
$(W)/c.h5: $(W)/a.h5 $(W)/feat-train.h5 | bin/eddp
	$(call wm_step,c,short) bin/eddp --quiet --overwrite --step c $^ -o $@
$(W)/d.h5: $(W)/c.h5 $(W)/feat-train.h5 $(W)/head.h5 $(W)/d.flags | bin/eddp
	$(drop_stale_checkpoint)
	$(call wm_step,d,train) bin/eddp --quiet --overwrite --step d --seed $(WM_SEED) $(CHECKPOINTS) @$(W)/d.flags $(W)/c.h5 $(W)/feat-train.h5 \
	    $(W)/head.h5 -o $@
$(W)/eq1.h5: $(W)/d.h5 $(W)/feat-train.h5 | bin/eddp
	$(call wm_step,eq1,short) bin/eddp --quiet --overwrite --step c --estimator eq1 $^ -o $@

# --- which detector is the watermark's: IoU against the annotation, labels
# from the training set, IoU on the union test set (clean images are
# negatives there). eq1.h5 has step d's detectors, so the same table.
$(W)/iou-%.txt $(W)/iou-%.h5 &: $(W)/%.h5 $(W)/feat-train.h5 $(W)/feat-union.h5 | bin/iou-label
	$(call wm_step,iou-$*,short) bin/iou-label --quiet --overwrite --val-from $(W)/feat-union.h5 $< $(W)/feat-train.h5 \
	    -o $(W)/iou-$*.h5 > $(W)/iou-$*.txt

# --- influence of every signal vector on the classes (clean test images)
$(W)/influence-%.h5 $(W)/influence-%.txt &: $(W)/%.h5 $(W)/feat-clean.h5 $(W)/head.h5 $(W)/feat-train.h5 $(W)/rcav.flags | bin/rcav
	$(call wm_step,influence-$*,short) bin/rcav --quiet --overwrite --pairs --seed $(WM_SEED) --threads $(WM_THREADS) @$(W)/rcav.flags \
	    $(wordlist 1,4,$^) -o $(W)/influence-$*.h5 > $(W)/influence-$*.txt

# --- correction (Eq. 18) of each test set with the watermark detector's
# signal vector by Eq. 1 on step (d)'s final detectors (as the paper's
# Table 8 uses Eq.-1 vectors; step (d)'s learned Ŝ need not even raise their
# own detector: eddp(7)), its filter direction, and random vectors; each
# corrected set scored by the head. corr-DIRS-HOW-TEST.h5: DIRS = eq1 (or d),
# HOW = signal | filter | random-T.
WM_CORRECT = bin/correct --quiet --overwrite --concept watermark --strength @$(W)/correct.flags
define wm_correct
$(W)/corr-$(1)-signal-%.h5: $(W)/$(1).h5 $(W)/feat-%.h5 $(W)/iou-$(1).h5 $(W)/correct.flags | bin/correct
	$$(call wm_step,corr-$(1)-signal-$$*,short) $$(WM_CORRECT) --labels $(W)/iou-$(1).h5 --direction signal $(W)/$(1).h5 $(W)/feat-$$*.h5 -o $$@
$(W)/corr-$(1)-filter-%.h5: $(W)/$(1).h5 $(W)/feat-%.h5 $(W)/iou-$(1).h5 $(W)/correct.flags | bin/correct
	$$(call wm_step,corr-$(1)-filter-$$*,short) $$(WM_CORRECT) --labels $(W)/iou-$(1).h5 --direction filter $(W)/$(1).h5 $(W)/feat-$$*.h5 -o $$@
$(foreach t,$(WM_TRIALS),
$(W)/corr-$(1)-random-$(t)-%.h5: $(W)/$(1).h5 $(W)/feat-%.h5 $(W)/iou-$(1).h5 $(W)/correct.flags | bin/correct
	$$(call wm_step,corr-$(1)-random-$(t)-$$*,short) $$(WM_CORRECT) --labels $(W)/iou-$(1).h5 --direction random --trial $(t) --seed $(WM_SEED) $(W)/$(1).h5 $(W)/feat-$$*.h5 -o $$@
)
endef
WM_SIGNALS ?= eq1
$(foreach d,$(WM_SIGNALS),$(eval $(call wm_correct,$(d))))

# Accuracy and confusion matrix of the head on a features file.
$(W)/eval-%.txt: $(W)/%.h5 $(W)/head.h5 | bin/trainhead
	$(call wm_step,eval-$*,short) bin/trainhead --eval $(W)/head.h5 $< > $@

WM_HOWS = signal filter $(addprefix random-,$(WM_TRIALS))
WM_EVALS = $(foreach t,$(WM_TESTS),$(W)/eval-feat-$(t).txt \
             $(foreach d,$(WM_SIGNALS),$(foreach h,$(WM_HOWS),$(W)/eval-corr-$(d)-$(h)-$(t).txt)))

# Files made by pattern rules are results the report reads: keep them.
.SECONDARY: $(foreach t,$(WM_TESTS),$(W)/feat-$(t).h5 $(foreach d,$(WM_SIGNALS),$(foreach h,$(WM_HOWS),$(W)/corr-$(d)-$(h)-$(t).h5))) \
            $(foreach d,d eq1,$(W)/iou-$(d).h5 $(W)/iou-$(d).txt $(W)/influence-$(d).h5 $(W)/influence-$(d).txt)
WM_CLASS_LABELS ?= Sandal Sneaker Boot
$(W)/report.txt $(W)/confusion.png $(W)/firing.png &: $(WM_EVALS) $(W)/iou-d.txt $(W)/influence-d.txt \
        $(W)/influence-eq1.txt $(W)/examples.png $(W)/test-union.h5 $(W)/feat-clean.h5 \
        $(foreach d,$(WM_SIGNALS),$(W)/corr-$(d)-signal-poisoned.h5 $(W)/corr-$(d)-signal-union.h5) pipelines/watermark_report.py pipelines/confusion.gp pipelines/firing.gp
	/usr/bin/python3 pipelines/watermark_report.py $(W) "$(WM_TRIALS)" "$(WM_SIGNALS)" > $(W)/report.tmp
	gnuplot -e "data='$(W)/confusion.tsv'; output='$(W)/confusion.png'; classes='$(WM_CLASS_LABELS)'" pipelines/confusion.gp
	gnuplot -e "data='$(W)/firing.dat'; output='$(W)/firing.png'" pipelines/firing.gp
	{ cat $(W)/report.tmp; echo; echo "== detectors × concepts (iou-label)"; cat $(W)/iou-d.txt; \
	  echo; echo "== influence of every signal vector (rcav, learned S of step d)"; cat $(W)/influence-d.txt; } > $(W)/report.txt
	rm -f $(W)/report.tmp
