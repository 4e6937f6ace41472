import unittest

from statkit import mean, median, value_range


class StatkitTest(unittest.TestCase):
    def test_mean(self):
        self.assertEqual(mean([1, 2, 3, 4]), 2.5)

    def test_median_odd(self):
        self.assertEqual(median([3, 1, 2]), 2)

    def test_median_even(self):
        self.assertEqual(median([4, 1, 3, 2]), 2.5)

    def test_median_empty(self):
        with self.assertRaises(ValueError):
            median([])

    def test_range(self):
        self.assertEqual(value_range([5, -2, 7]), 9)


if __name__ == "__main__":
    unittest.main()
