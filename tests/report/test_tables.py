

def test_spearman_p_value_is_exact_for_few_points():
    import torch

    from skillneuron_harness.report.tables import spearman

    rho, p = spearman(torch.tensor([0.1, 0.2, 0.3]), torch.tensor([5.0, 6.0, 9.0]))
    assert rho == 1.0 and abs(p - 2 / 6) < 1e-12  # 2 of the 3! orderings are as extreme
    rho, p = spearman(torch.tensor([1.0, 2, 3, 4]), torch.tensor([2.0, 1, 4, 3]))
    # rho = 0.6; orderings of 4 ranks with |rho| >= 0.6: counted by brute force below
    import itertools

    def r(perm):
        d = [a - b for a, b in zip([1, 2, 3, 4], perm, strict=True)]
        return 1 - 6 * sum(v * v for v in d) / (4 * 15)

    extreme = sum(abs(r(perm)) >= 0.6 - 1e-12 for perm in itertools.permutations([1, 2, 3, 4]))
    assert abs(rho - 0.6) < 1e-12 and abs(p - extreme / 24) < 1e-12
