def main():
    print("before the error")
    denominator = 0
    return 1 / denominator
