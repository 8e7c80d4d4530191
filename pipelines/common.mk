# pipelines/common.mk — what every experiment's makefile shares: the
# flags files that make settings targets, checkpoints of training steps, and
# the step runner (pipelines/step.sh: here, through RUN, or as SLURM jobs).
# The Makefile includes it before the experiments.
RUN ?=

# $(call flags_file,PATH,VARIABLE): PATH holds the value of VARIABLE and is
# rewritten only when that value changes (a variable's name is passed, not
# its value, because values hold commas). Written by Make itself, not through
# the shell, so a value may hold any printable character; recipes pass the
# file as @PATH to pipelines/step.sh, which splits it into words at blanks
# with '…', "…" and \ quoting and expands nothing (e.g. DATA_FLAGS="--classes
# '0,1;1,0;-1,2'", or DATA_FLAGS='--classes 0,1;1,0' as ';' needs no quotes
# there). Runs of blanks collapse to one (strip), as they always have, so
# the flags files of existing runs stay as they were.
define flags_file
$(shell mkdir -p $(dir $(1)))$(eval _flags_old := $$(shell cat $(1) 2>/dev/null))$(eval _flags_new := $$(strip $$($(2))))$(if $(and $(wildcard $(1)),$(call same,$(_flags_old),$(_flags_new))),,$(file >$(1),$(_flags_new)))
endef
# $(call same,A,B): non-empty when the strings A and B are equal.
same = $(if $(subst $(1),,$(2))$(subst $(2),,$(1))$(if $(1),,$(2))$(if $(2),,$(1)),,same)

# Training steps (uibe, eddp --step d) write a checkpoint every
# CHECKPOINT_EVERY epochs and on SIGINT/SIGTERM/SIGUSR1 (exit 75), and
# always pass --resume: rerunning an interrupted target continues from its
# checkpoint, bit-identical to an uninterrupted run. A checkpoint older than
# any prerequisite (other data or settings) is dropped first. Changing
# CHECKPOINT_EVERY reruns nothing.
CHECKPOINT_EVERY ?= 500
CHECKPOINTS = --checkpoint-every $(CHECKPOINT_EVERY) --resume
drop_stale_checkpoint = @for p in $^; do if [ "$$p" -nt $@.ckpt ]; then rm -f $@.ckpt; fi; done

# --- clusters (README, "Clusters"). Every recipe runs through
# pipelines/step.sh: RUN='srun --exact -n1' prefixes each step's command;
# SLURM=1 runs each step as its own SLURM job (a job step under sbatch) named
# EXPERIMENT/[seedN/]step, with --cpus-per-task THREADS, --mem SLURM_MEM (MB;
# default 512 + 4 × the size of the step's input files),
# --time TIME_TRAIN or TIME_SHORT, a GPU for training steps when the cluster
# has GPUs, SLURM_FLAGS (e.g. --partition x), and its log in
# the run folder's logs/.
SLURM ?=
SLURM_FLAGS ?=
TIME_TRAIN ?= 2-00:00:00
TIME_SHORT ?= 4:00:00
SLURM_MEM ?=
# $(call qv,VARIABLE): the value of VARIABLE quoted for the shell.
qv = '$(subst ','\'',$($(1)))'
# step.sh reads these settings from its environment.
export STEP_RUN = $(RUN)
export STEP_SLURM = $(SLURM)
export STEP_SLURM_FLAGS = $(SLURM_FLAGS)
export STEP_MEM = $(SLURM_MEM)
export STEP_TIME_TRAIN = $(TIME_TRAIN)
export STEP_TIME_SHORT = $(TIME_SHORT)
# $(call run_step,JOB-NAME,CLASS,LOG): the command prefix of one step.
run_step = pipelines/step.sh '$(subst ','\'',$(1))' $(2) $(3)

