"""TF-IDF from scratch against scikit-learn's TfidfVectorizer."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity

from helpers.corpus import load_tinyshakespeare, split_into_chunks
from helpers.similarity import NUMBER_WORDS, group_cohesion
from helpers.tfidf import search, smooth_idf, term_counts, tfidf_from_scratch


def sklearn_tfidf(documents, sublinear_tf):
    vectorizer = TfidfVectorizer(sublinear_tf=sublinear_tf)
    matrix = vectorizer.fit_transform(documents).toarray()
    return matrix, list(vectorizer.get_feature_names_out())


def test_hand_computed_example():
    # "aa aa bb" and "bb cc": n=2; df(aa)=1, df(bb)=2, df(cc)=1
    matrix, vocabulary = tfidf_from_scratch(["aa aa bb", "bb cc"])
    assert vocabulary == ["aa", "bb", "cc"]
    idf_rare = np.log(3 / 2) + 1
    first = np.array([2 * idf_rare, 1.0, 0.0])
    np.testing.assert_allclose(matrix[0], first / np.linalg.norm(first), atol=1e-15)
    second = np.array([0.0, 1.0, idf_rare])
    np.testing.assert_allclose(matrix[1], second / np.linalg.norm(second), atol=1e-15)


def test_smooth_idf_formula():
    counts = np.array([[1, 0], [3, 0], [0, 2]])
    np.testing.assert_allclose(
        smooth_idf(counts), [np.log(4 / 3) + 1, np.log(4 / 2) + 1]
    )


@pytest.mark.parametrize("sublinear_tf", [False, True])
def test_matches_sklearn_on_tinyshakespeare(sublinear_tf):
    chunks = split_into_chunks(load_tinyshakespeare(), 10)
    ours, our_vocabulary = tfidf_from_scratch(chunks, sublinear_tf=sublinear_tf)
    reference, reference_vocabulary = sklearn_tfidf(chunks, sublinear_tf)
    assert our_vocabulary == reference_vocabulary
    assert ours.shape == reference.shape == (10, 11446)
    assert np.abs(ours - reference).max() < 1e-12


words = st.sampled_from(
    ["to", "be", "or", "not", "is", "the", "question", "ay", "x", "ÆON", "42"]
)
documents = st.lists(st.lists(words, max_size=12).map(" ".join), min_size=1, max_size=8)


@settings(max_examples=150, deadline=None)
@given(documents, st.booleans())
def test_matches_sklearn_on_generated_corpora(docs, sublinear_tf):
    try:
        reference, reference_vocabulary = sklearn_tfidf(docs, sublinear_tf)
    except ValueError:
        with pytest.raises(ValueError, match="vocabulary is empty"):
            tfidf_from_scratch(docs, sublinear_tf=sublinear_tf)
        return
    ours, our_vocabulary = tfidf_from_scratch(docs, sublinear_tf=sublinear_tf)
    assert our_vocabulary == reference_vocabulary
    assert np.abs(ours - reference).max() < 1e-12


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=30), min_size=1, max_size=5))
def test_matches_sklearn_on_arbitrary_unicode(docs):
    try:
        reference, reference_vocabulary = sklearn_tfidf(docs, False)
    except ValueError:
        with pytest.raises(ValueError):
            tfidf_from_scratch(docs)
        return
    ours, our_vocabulary = tfidf_from_scratch(docs)
    assert our_vocabulary == reference_vocabulary
    assert np.abs(ours - reference).max() < 1e-12


def test_empty_documents_list():
    with pytest.raises(ValueError, match="documents list is empty"):
        tfidf_from_scratch([])


def test_single_string_is_rejected():
    with pytest.raises(TypeError, match="list of strings"):
        tfidf_from_scratch("a whole corpus as one string")


def test_vocabulary_empty_after_tokenisation():
    with pytest.raises(ValueError, match="vocabulary is empty"):
        tfidf_from_scratch(["a b c", "! ?"])


def test_bytes_and_non_strings_are_refused_clearly():
    with pytest.raises(TypeError, match="not a single string"):
        tfidf_from_scratch(b"to be or not to be")
    with pytest.raises(TypeError, match="Document 1 is a bytes.*decode"):
        tfidf_from_scratch(["to be", b"or not"])
    with pytest.raises(TypeError, match="Document 0 is a NoneType"):
        tfidf_from_scratch([None])


def test_a_dense_matrix_past_the_limit_is_refused_before_allocation():
    documents = [f"word{i} common" for i in range(300)]  # 300 documents x 301 terms
    counts, _ = term_counts(documents, max_bytes=300 * 301 * 8)
    assert counts.shape == (300, 301)
    with pytest.raises(ValueError, match=r"300 documents x 301 terms.*sparse"):
        term_counts(documents, max_bytes=300 * 301 * 8 - 1)


def test_the_default_limit_refuses_100_000_chunks_quickly():
    # issue 17.10: this once asked numpy for a 14 GiB array
    chunks = split_into_chunks(load_tinyshakespeare(), 100_000)
    with pytest.raises(ValueError, match="TfidfVectorizer"):
        tfidf_from_scratch(chunks)


def test_search_ranks_like_sklearn_cosine_similarity():
    documents = [
        "a horse a horse my kingdom for a horse",
        "my kingdom is lost",
        "the horse runs",
        "nothing in common here",
    ]
    vectorizer = TfidfVectorizer()
    matrix = vectorizer.fit_transform(documents)
    query = "horse kingdom"
    reference = cosine_similarity(vectorizer.transform([query]), matrix)[0]
    found = search(query, vectorizer, matrix, n=4)
    assert [row for row, _ in found] == list(np.argsort(-reference, kind="stable"))
    np.testing.assert_allclose([score for _, score in found], np.sort(reference)[::-1])
    assert found[-1] == (3, 0.0)


def test_tfidf_number_words_are_no_closer_than_matched_random_words():
    # the numbers notebook 01 prints: precision 0.02 and a chance-level comparison
    chunks = split_into_chunks(load_tinyshakespeare(), 10)
    matrix, vocabulary = tfidf_from_scratch(chunks)
    cohesion = group_cohesion(
        matrix.T, vocabulary, NUMBER_WORDS, seed=0, frequencies=(matrix > 0).sum(axis=0)
    )
    assert cohesion.neighbour_precision == pytest.approx(0.02)
    assert cohesion.group_mean == pytest.approx(0.710, abs=5e-4)
    assert cohesion.share_as_close_neighbours > 0.05
    assert cohesion.share_as_close_cosine > 0.05
