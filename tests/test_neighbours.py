"""Row normalisation and cosine neighbours, checked against scikit-learn."""

import numpy as np
import pytest
import torch
from sklearn.metrics.pairwise import cosine_similarity
from sklearn.preprocessing import normalize

import helpers.neighbours as neighbours
from helpers.neighbours import nearest_rows, row_norms, unit_rows


def sklearn_neighbours(matrix: np.ndarray, ids: list[int], n: int):
    """The reference: sklearn's cosine over all rows, self excluded, stable order."""
    similarities = cosine_similarity(np.asarray(matrix, dtype=np.float64)[ids], matrix)
    similarities[np.arange(len(ids)), ids] = -np.inf
    top = np.argsort(-similarities, axis=1, kind="stable")[:, :n]
    return np.take_along_axis(similarities, top, axis=1), top


def test_unit_rows_numpy_is_float64_and_keeps_zero_rows():
    matrix = np.array([[3.0, 4.0], [0.0, 0.0], [1.0, -1.0]], dtype=np.float32)
    units = unit_rows(matrix)
    assert units.dtype == np.float64
    np.testing.assert_allclose(units, normalize(matrix.astype(np.float64)), rtol=1e-15)
    assert units[1].tolist() == [0.0, 0.0]


def test_unit_rows_torch_is_float32_and_keeps_zero_rows():
    matrix = torch.tensor([[3.0, 4.0], [0.0, 0.0], [-2.0, 0.0]], dtype=torch.bfloat16)
    units = unit_rows(matrix)
    assert units.dtype == torch.float32
    assert units.tolist() == [[0.6000000238418579, 0.800000011920929], [0, 0], [-1, 0]]


@pytest.mark.parametrize("rows, dim", [(50, 3), (9000, 40)])
def test_numpy_neighbours_equal_sklearn(rows, dim):
    rng = np.random.default_rng(rows)
    matrix = rng.normal(size=(rows, dim))
    ids = [0, rows - 1, 7, 7, rows // 2]
    similarities, found = nearest_rows(matrix, ids, n=4)
    expected_similarities, expected = sklearn_neighbours(matrix, ids, 4)
    assert found.dtype == np.int64 and similarities.dtype == np.float64
    assert found.tolist() == expected.tolist()
    np.testing.assert_allclose(similarities, expected_similarities, rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_torch_neighbours_equal_sklearn_and_keep_the_dtype(dtype):
    torch.manual_seed(1)
    matrix = torch.randn(20_000, 64).to(dtype)  # three blocks of 8,192 rows
    assert neighbours._rows_per_block(matrix) < matrix.shape[0]
    ids = torch.tensor([19_999, 0, 8_192, 12_345])
    similarities, found = nearest_rows(matrix, ids, n=6)
    reference = matrix.double().numpy()
    expected_similarities, expected = sklearn_neighbours(reference, ids.tolist(), 6)
    assert found.dtype == torch.int64 and similarities.dtype == torch.float32
    assert found.tolist() == expected.tolist()
    np.testing.assert_allclose(similarities.numpy(), expected_similarities, atol=1e-6)
    assert matrix.dtype == dtype


def test_query_chunks_give_the_same_answer(monkeypatch):
    rng = np.random.default_rng(3)
    matrix = rng.normal(size=(300, 8)).astype(np.float32)
    ids = list(range(0, 300, 7))
    whole = nearest_rows(matrix, ids, n=3)
    monkeypatch.setattr(neighbours, "MAX_SCORES", 1000)  # 3 queries per chunk
    monkeypatch.setattr(neighbours, "BLOCK_BYTES", 100)  # one row per block
    chunked = nearest_rows(matrix, ids, n=3)
    assert chunked[1].tolist() == whole[1].tolist()
    np.testing.assert_allclose(chunked[0], whole[0], atol=1e-12)


def test_ties_go_to_the_smaller_id():
    matrix = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [3.0, 0.0], [5.0, 0.0]])
    assert nearest_rows(matrix, [3], n=3)[1].tolist() == [[0, 1, 4]]
    assert nearest_rows(torch.tensor(matrix).float(), [4], n=2)[1].tolist() == [[0, 1]]


def test_negative_and_out_of_range_ids_are_refused_by_name():
    torch.manual_seed(0)
    matrix = torch.randn(12, 4)
    with pytest.raises(ValueError, match=r"Row id -1 is negative.*0 to 11"):
        nearest_rows(matrix, [3, -1], n=2)
    with pytest.raises(ValueError, match="Row id -7 is negative"):
        nearest_rows(matrix.numpy(), np.array([-7]), n=2)
    with pytest.raises(ValueError, match=r"Row id 12 is out of range.*0\.\.11"):
        nearest_rows(matrix, [12], n=2)
    with pytest.raises(ValueError, match="Row id 1000000000000 is out of range"):
        nearest_rows(matrix, [10**12], n=2)
    with pytest.raises(TypeError, match="must be integers, got 2.5"):
        nearest_rows(matrix, [2.5], n=2)
    with pytest.raises(TypeError, match="must be integers, got True"):
        nearest_rows(matrix, [True], n=2)
    with pytest.raises(ValueError, match="No query rows"):
        nearest_rows(matrix, [], n=2)
    with pytest.raises(ValueError, match="1-D"):
        nearest_rows(matrix, torch.tensor([[1, 2]]), n=2)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_and_zero_rows_are_never_ranked(bad):
    rng = np.random.default_rng(5)
    matrix = rng.normal(size=(8, 3))
    matrix[2, 1] = bad  # one bad number spoils the whole row
    matrix[5] = 0.0
    for as_torch in (False, True):
        data = torch.tensor(matrix, dtype=torch.float32) if as_torch else matrix
        similarities, found = nearest_rows(data, [0, 7], n=5)
        assert not set(np.asarray(found).ravel().tolist()) & {2, 5}
        assert np.isfinite(np.asarray(similarities)).all()
        with pytest.raises(ValueError, match="Row 2 is not finite"):
            nearest_rows(data, [2], n=1)
        with pytest.raises(ValueError, match="Row 5 is all zeros"):
            nearest_rows(data, [5], n=1)
        with pytest.raises(ValueError, match="n must be an integer from 1 to 5"):
            nearest_rows(data, [0], n=6)  # only 5 other rows can be ranked


def test_norms_can_be_reused_and_are_checked():
    torch.manual_seed(2)
    matrix = torch.randn(1000, 16, dtype=torch.bfloat16)
    norms = row_norms(matrix)
    torch.testing.assert_close(norms, torch.linalg.vector_norm(matrix.float(), dim=1))
    assert nearest_rows(matrix, [1, 2], n=3, norms=norms)[1].tolist() == (
        nearest_rows(matrix, [1, 2], n=3)[1].tolist()
    )
    with pytest.raises(ValueError, match="one value per row"):
        nearest_rows(matrix, [1], n=3, norms=norms[:-1])


def test_bad_matrices_and_n():
    with pytest.raises(TypeError, match="numpy array or a torch tensor"):
        nearest_rows([[1.0, 2.0]], [0], n=1)
    with pytest.raises(ValueError, match="2-D"):
        nearest_rows(np.ones(5), [0], n=1)
    with pytest.raises(TypeError, match="floating-point"):
        nearest_rows(np.ones((5, 2), dtype=int), [0], n=1)
    with pytest.raises(ValueError, match="n must be an integer"):
        nearest_rows(np.eye(5), [0], n=0)
    with pytest.raises(ValueError, match="n must be an integer"):
        nearest_rows(np.eye(5), [0], n=2.0)
