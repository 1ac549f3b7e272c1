import numpy as np
import pandas as pd

def main():
    data = pd.DataFrame({'numbers': [1, 2, 3, 4, 5], 'squares': [1, 4, 9, 16, 25]})
    mean_value = np.mean(data['numbers'])
    return {"mean": mean_value, "data_shape": data.shape, "total_records": len(data)}
