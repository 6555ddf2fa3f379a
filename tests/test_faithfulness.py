"""Faithfulness flags: numbers, names, over-claims and loops a summary adds to its source.

The sources are real abstracts (arXiv metadata, CC0) of the week of 2026-06-15; the faithful
summaries paraphrase them the way a model does (acronyms, plurals, reordered clauses), and
must raise nothing.
"""

from __future__ import annotations

import pytest

from pipeline.render.issue import check_note
from pipeline.summarize.faithfulness import (
    Flags,
    check,
    loops,
    overclaims,
    unsupported_names,
    unsupported_quantities,
)
from pipeline.summarize.validate import clean_output

JUDGE = (
    "The Coin Flip Judge? Reliability and Bias in LLM-as-a-Judge Evaluation\n"
    "LLM-as-a-Judge is now widely used to rank model outputs, train reward models, and "
    "populate public leaderboards, but its run-to-run reliability remains under-characterized. "
    "We study repeated identical evaluations on 29 tasks spanning 10 categories using two "
    "OpenAI judge models (GPT-4o-mini and GPT-4.1-mini), with 50 pairwise trials and 50 "
    "pointwise trials per question, supplemented by temperature and prompt-sensitivity "
    "ablations. Across judges, pairwise preferences flip on average 13.6% of the time, with 28% "
    "of questions exceeding a 20% flip rate and one question reaching 56%. GPT-4o-mini also "
    "exhibits a significant first-position bias (72% A-majority, p = 0.024). At the same time, "
    "mean pointwise score gaps are small (0.19--0.36 on a 10-point scale) and not statistically "
    "significant in aggregate, producing a pairwise--pointwise gap: judges frequently choose a "
    "winner even when their own scalar scores provide little evidence of a meaningful quality "
    "difference. Beyond within-judge instability, cross-judge agreement is only 76% "
    "($κ= 0.51$), semantically equivalent prompt templates change majority outcomes in 25% of "
    "tested cases, and deterministic decoding reduces but does not eliminate inconsistency. A "
    "reliability curve analysis shows that, in our dataset, 11 repeated trials are needed for "
    "a majority vote to recover the 50-trial reference verdict with 95% probability on "
    "average, rising to 15 for high-variance questions. These findings suggest that "
    "single-trial LLM judging is often too noisy for high-stakes evaluation, and that "
    "multi-trial aggregation, position randomization, and explicit uncertainty reporting "
    "should be standard practice. Because both judges are from a single provider, "
    "cross-provider replication remains an important next step."
)
ICD = (
    "Can Post-Training Turn LLMs into Good Medical Coders? An Empirical Study of Generative "
    "ICD Coding\n"
    "Automated International Classification of Diseases (ICD) coding is a core medical-coding "
    "task for billing, epidemiology, and clinical decision support. Generative large language "
    "models (LLMs) are often reported as weak medical coders, but this finding mainly comes "
    "from inference-time settings such as prompting, retrieval, reranking, or tool use, "
    "leaving the role of task-specific post-training underexplored. We present a controlled "
    "empirical study of post-training for generative ICD coding, comparing discriminative "
    "baselines with LLM coders across prompting, supervised fine-tuning, and reinforcement "
    "learning under a common protocol and metric set. To our knowledge, this is the first "
    "study to evaluate RL-based post-training for generative LLM coders in ICD coding. We "
    "further introduce PHI, a diagnostic curriculum that extends GRPO to refine missed-code "
    "cases. Our results show that prompting-only evaluation substantially underestimates the "
    "potential of LLMs for ICD coding. SFT provides the main capability jump, GRPO further "
    "improves code-set prediction beyond SFT, and PHI provides targeted gains on macro-level "
    "performance."
)
ORCHESTRA = (
    "Orchestra-o1: Omnimodal Agent Orchestration\n"
    "The recent success of agent swarms has shifted the paradigm of large language model "
    "(LLM)-based agents from single-agent workflows to multi-agent systems. In this work, we "
    "propose Orchestra-o1, an omnimodal agent orchestration framework designed to support "
    "efficient agent collaboration across multiple modalities. Orchestra-o1 introduces a "
    "unified orchestration mechanism that enables modality-aware task decomposition, online "
    "sub-agent specialization, and parallel sub-task execution, surpassing the second-best "
    "approach by 10.3% accuracy on the OmniGAIA benchmark. Furthermore, we introduce "
    "decision-aligned group relative policy optimization (DA-GRPO), an efficient agentic "
    "reinforcement learning approach for training Orchestra-o1-8B, which also achieves "
    "state-of-the-art performance against all existing open-source omnimodal agents."
)

FAITHFUL = [
    (
        JUDGE,
        "The paper claims that LLM judges are unreliable from run to run. Repeating identical "
        "evaluations with GPT-4o-mini and GPT-4.1-mini on 29 tasks, pairwise preferences flip "
        "13.6% of the time on average, GPT-4o-mini shows a significant first-position bias, "
        "and the two OpenAI judges agree only 76% of the time. A majority vote over 11 trials "
        "recovers the 50-trial verdict with 95% probability. A critique is that both judges "
        "come from one provider. The implication is that multi-trial aggregation and position "
        "randomization should be standard for LLM-as-a-judge evaluations.",
    ),
    (
        ICD,
        "The study asks whether post-training makes LLMs good ICD coders. Comparing prompting, "
        "SFT and RL-based post-training with GRPO against discriminative baselines, it finds "
        "that prompting-only evaluation underestimates LLM coders, SFT gives the main jump and "
        "GRPO adds further gains, while the PHI curriculum helps macro-level performance. It "
        "is the first study of RL post-training for generative ICD coding. A critique is that "
        "the gains of each stage are not separated from data effects. Large language model "
        "(LLM) coders may be stronger than reported.",
    ),
    (
        ORCHESTRA,
        "Orchestra-o1 is an omnimodal orchestration framework for LLM-based agents that "
        "decomposes tasks by modality, specializes sub-agents online and runs sub-tasks in "
        "parallel. It surpasses the second-best approach by 10.3% accuracy on OmniGAIA, and "
        "DA-GRPO, a group relative policy optimization variant, trains Orchestra-o1-8B to "
        "state-of-the-art results among open-source omnimodal agents. A critique is that the "
        "comparison covers open-source agents only. The implication is that agent swarms need "
        "modality-aware orchestration.",
    ),
]


@pytest.mark.parametrize(("source", "summary"), FAITHFUL)
def test_faithful_paraphrases_raise_nothing(source: str, summary: str) -> None:
    assert check(summary, source) == Flags()
    assert not check(summary, source)


@pytest.mark.parametrize("source", [JUDGE, ICD, ORCHESTRA])
def test_a_source_supports_itself(source: str) -> None:
    abstract = source.split("\n", 1)[1]
    assert check(abstract, source) == Flags()


def test_unfaithful_summary_is_flagged_by_kind() -> None:
    summary = (
        "The paper claims that LLM judges are unreliable. Using GPT-5 and Claude on MMLU, "
        "preferences flip 31% of the time across 70B models, and the authors prove this is "
        "always so. The paper claims that LLM judges are unreliable. The work is the first "
        "study of judge noise and dramatically changes evaluation practice."
    )
    flags = check(summary, JUDGE)
    assert flags.numbers == ("31%", "70B")
    assert flags.names == ("GPT-5", "Claude", "MMLU")
    assert flags.overclaims == ("dramatically", "always", "the first study")
    assert flags.loops == ("The paper claims that LLM judges are unreliable.",)


# ----------------------------------------------------------------------------- names
SOURCE = (
    "We fine-tune Qwen2.5-7B-Instruct and GPT-4o-mini with reinforcement learning from human "
    "feedback and supervised fine-tuning on ImageNet-1k and the MMLU benchmark; "
    "chain-of-thought prompting of large language models helps, as does a mixture of experts."
)


@pytest.mark.parametrize(
    "summary",
    [
        "It tunes Qwen 2.5-7B-Instruct and gpt4o-mini on Imagenet-1K and MMLU.",  # case, spaces
        "LLMs and LLM-based agents gain; MMLU-based scores rise.",  # plural, -based
        "It uses RLHF and SFT with CoT prompting in an MoE.",  # spelled out in the source
        "The AI pipeline runs on one GPU through an API.",  # generic words
        "Results are shown in 3D.",  # a shape, not a name
        "Qwen models improve. Bayesian readers agree.",  # capitalised at a sentence start
    ],
)
def test_names_the_source_supports(summary: str) -> None:
    assert unsupported_names(summary, SOURCE) == []


@pytest.mark.parametrize(
    ("summary", "names"),
    [
        ("It beats GPT-5 and Llama-3 on GSM8K.", ["GPT-5", "Llama-3", "GSM8K"]),
        ("It tunes GPT-4.1, not GPT-4o-mini.", ["GPT-4.1"]),
        ("Unlike o1, it uses ImageNet-21k.", ["o1", "ImageNet-21k"]),
        ("It is compared with Claude, DeepSeek-R1 and vLLM.", ["Claude", "DeepSeek-R1", "vLLM"]),
        ("It uses DPO and RLVR; MMLU MMLU RLVR.", ["DPO", "RLVR"]),  # each name once
        ("A Transformer, as Smith et al. show.", ["Transformer", "Smith"]),
        ("Baselines (Claude, Gemini) lag.", ["Claude", "Gemini"]),
    ],
)
def test_names_the_source_lacks(summary: str, names: list[str]) -> None:
    assert unsupported_names(summary, SOURCE) == names


def test_acronyms_count_when_spelled_out_but_words_do_not() -> None:
    source = "We report mean average precision and intersection over union of vision-language "
    source += "models; large efficient attention networks run fast."
    assert unsupported_names("mAP and IoU of VLMs rise.", source) == []
    assert unsupported_names("It is written in Lean.", source) == ["Lean"]


def test_quantities_are_numbers() -> None:
    assert unsupported_quantities("A 7B model with 128k context in 10ms.", SOURCE) == [
        "128k",
        "10ms",
    ]
    assert unsupported_quantities("It trains 70B and 7B models.", "A 7 billion model.") == ["70B"]
    assert unsupported_names("A 70B model, 2nd in 3x fewer steps.", SOURCE) == []


# ----------------------------------------------------------------------------- over-claims
PLAIN = "We propose a method that improves accuracy on three benchmarks over strong baselines."


@pytest.mark.parametrize(
    ("summary", "claim"),
    [
        ("It achieves state-of-the-art accuracy.", "state-of-the-art"),
        ("It sets a new SOTA.", "SOTA"),
        ("It significantly improves accuracy.", "significantly"),
        ("The gain is significant.", "significant"),
        ("It dramatically cuts cost.", "dramatically"),
        ("It always helps.", "always"),
        ("It never fails.", "never"),
        ("It guarantees convergence.", "guarantees"),
        ("It is the first method to do this.", "the first method"),
        ("For the first time, accuracy rises.", "For the first time"),
        ("It outperforms all baselines.", "outperforms all"),
        ("It beats every baseline.", "beats every"),
        ("An unprecedented result.", "unprecedented"),
        ("A breakthrough for the field.", "breakthrough"),
        ("It revolutionizes training.", "revolutionizes"),
    ],
)
def test_overclaims_the_source_does_not_make(summary: str, claim: str) -> None:
    assert overclaims(summary, PLAIN) == [claim]


@pytest.mark.parametrize(
    "summary",
    [
        "It does not always help.",  # hedges
        "It is not significantly slower.",
        "It doesn't guarantee convergence.",
        "It is a novel method that outperforms strong baselines.",  # "novel": not checked
        "The first experiment shows gains; the best model wins.",  # "first" as an ordinal
    ],
)
def test_hedges_and_plain_words_are_not_overclaims(summary: str) -> None:
    assert overclaims(summary, PLAIN) == []


def test_overclaims_the_source_makes_itself_are_not_flagged() -> None:
    source = (
        "Our method achieves state of the art results with significant gains, outperforms "
        "prior methods on all benchmarks and is the first approach to guarantee convergence."
    )
    summary = (
        "It achieves state-of-the-art results, significantly outperforms all baselines and is "
        "the first method that guarantees convergence."
    )
    assert overclaims(summary, source) == []


# ----------------------------------------------------------------------------- loops
LOOPING = (
    "The method routes tokens to experts with a learned gate. Training is stable at scale and "
    "the gate balances load across the experts without auxiliary losses. Results improve on "
    "three benchmarks. The gate balances load across the experts without auxiliary losses, "
    "which the authors see as the main contribution of this work."
)


def test_loops_that_clean_output_lets_through_are_flagged() -> None:
    assert clean_output("summary", LOOPING, "prompt") == LOOPING  # not degenerate enough
    assert loops(LOOPING) == ["The gate balances load across the experts without"]
    repeated = "Accuracy rises on three tasks. It is cheap. Accuracy rises on three tasks."
    assert loops(repeated) == ["Accuracy rises on three tasks."]


def test_what_the_source_repeats_is_no_loop() -> None:
    source = (
        "Kissing arrangements of size 840 in R12 exist; kissing arrangements of size 840 in "
        "R12 are rare."
    )
    summary = (
        "They build kissing arrangements of size 840 in R12 and show that kissing arrangements "
        "of size 840 in R12 are rare."
    )
    assert loops(summary, source) == []
    assert loops("Short. Short. Short.") == []  # too short to count as a sentence loop


# ----------------------------------------------------------------------------- storage
def test_flags_are_stored_with_their_kind_and_older_rows_are_numbers() -> None:
    flags = Flags(("37%",), ("GPT-5",), ("always",), ("It says: this.",))
    stored = flags.stored()
    assert stored == ["number:37%", "name:GPT-5", "overclaim:always", "loop:It says: this."]
    assert Flags.from_stored(stored) == flags
    assert Flags.from_stored(["81.5%", "2x", "name:MMLU"]) == Flags(("81.5%", "2x"), ("MMLU",))
    assert Flags.from_stored([]) == Flags() and not Flags()


@pytest.mark.parametrize(
    ("flags", "source", "note"),
    [
        (Flags(), "abstract", ""),
        (
            Flags(("2x",)),
            "abstract",
            "Check before quoting: 2x does not appear in the abstract.",
        ),
        (
            Flags(names=("GPT-5", "MMLU")),
            "html",
            "Check before quoting: GPT-5, MMLU do not appear in the paper text.",
        ),
        (
            Flags(overclaims=("SOTA", "always", "never")),
            "abstract",
            "Check before quoting: the abstract does not say “SOTA”, “always” or “never”.",
        ),
        (
            Flags(loops=("a", "b")),
            "pdf",
            "Check before quoting: the summary repeats itself.",
        ),
    ],
)
def test_check_note_reads_as_one_sentence(flags: Flags, source: str, note: str) -> None:
    assert check_note(flags, source) == note
