# pipelines/synthetic-ablation.mk — what makes the synthetic experiment
# robust: each variant reruns `synthetic-seeds` (5 seeds) with one change
# from the default settings of pipelines/synthetic.mk, under
# runs/ablation/<variant>/, and the table collects their mean ± sd figures.
#
#   make synthetic-ablation                    all variants (long: run with -j2)
#   make synthetic-ablation ABLATIONS="paper batch256"
#   make -k -j16 SLURM=1 synthetic-ablation    each step a SLURM job named
#                                              ablation/<variant>/seedN/step
ABLATION_DIR ?= runs/ablation
ABLATIONS ?= default one-pass paper soft-coverage paper-ic-0.1 batch256 batch3000 gentle-penalty epoch-measure raw-d kappa-fixed

# Each variant's Make variables (on top of pipelines/synthetic.mk's defaults).
ablation_default :=
ablation_one-pass := FIXED_FLAGS=
ablation_paper := RECIPE=paper
ablation_soft-coverage := RECIPE=paper COVERAGE_FLAGS="--coverage soft"
ablation_paper-ic-0.1 := RECIPE=paper IC_BOUND=0.1
ablation_batch256 := BATCH=256
ablation_batch3000 := BATCH=3000
ablation_gentle-penalty := AL_FLAGS="--objective constrained --al-every 50 --al-penalty 1 --al-growth 2 --al-penalty-max 100"
ablation_epoch-measure := AL_FLAGS="--objective constrained --al-every 50 --al-penalty 1 --al-growth 10 --al-penalty-max 1e4 --al-measure epoch"
ablation_raw-d := D_EXTRA="--space raw"
ablation_kappa-fixed := LOSS_FLAGS="--gamma 1.1 --tau 1 --rho 0.5 --nu 4 --kappa 0.7:0.7"

.PHONY: synthetic-ablation
synthetic-ablation: $(ABLATION_DIR)/table.txt
	@cat $<

$(ABLATION_DIR)/%/summary.txt: FORCE
	$(MAKE) --no-print-directory synthetic-seeds SYN_DIR=$(ABLATION_DIR)/$* EXPERIMENT=ablation/$* $(ablation_$*) > /dev/null

$(ABLATION_DIR)/table.txt: $(foreach v,$(ABLATIONS),$(ABLATION_DIR)/$(v)/summary.txt)
	for f in $^; do echo "== $$f"; grep '^mean' $$f; done > $@

.PHONY: FORCE
FORCE:
